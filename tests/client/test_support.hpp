// Shared pieces of the client tests: a fixture that owns one tracer segment per test, a
// copying segment reader (SpanView only lives until the next decode), environment control,
// and a helper that runs a function in a forked child for tests that must not touch the
// test process's tracer (fork, mount namespaces, setuid).
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spanring/shm/abi.hpp"
#include "spanring/span_context.hpp"
#include "spanring/tracer.hpp"

namespace spanring::test {

// Every variable init() reads. Tests start from none of them set.
inline constexpr const char* kTracerEnvironment[] = {
    "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "SPANRING_SHM_SIZE",
    "SPANRING_RINGS",    "SPANRING_SHM_MODE", "SPANRING_CLOCK", "SPANRING_SHM_GROUP",
};

// Sets (or, with nullopt, unsets) an environment variable and restores it on destruction.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> previous_;
};

// A service name unique to the running test and process, short enough for any segment name.
std::string unique_service(std::string_view suffix = {});

// Names of /dev/shm entries that belong to `service` in this process (any generation).
std::vector<std::string> segments_of(std::string_view service);

// Segments this process creates are small so a full suite stays far from /dev/shm limits.
inline constexpr std::uint64_t kSmallSegment = 1u << 20;

// ---------------------------------------------------------------------------------------------
// A decoded span, copied out of the reader's buffers.

struct ReadAttr {
  std::string key;
  std::uint8_t type = 0;  // shm::AttrType
  bool bool_value = false;
  std::int64_t int_value = 0;
  double double_value = 0;
  std::string string_value;
  bool key_interned = false;
  std::vector<ReadAttr> elements;  // an array's elements (shm::is_array_type(type))
};

struct ReadEvent {
  std::string name;
  std::uint64_t time_unix_ns = 0;
  std::uint32_t dropped_attributes = 0;
  std::vector<ReadAttr> attributes;
};

struct ReadLink {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::uint8_t trace_flags = 0, flags = 0;
  std::string trace_state;
  std::uint32_t dropped_attributes = 0;
  std::vector<ReadAttr> attributes;
};

struct ReadSpan {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::array<std::uint8_t, 8> parent_span_id{};
  bool has_parent = false;
  std::uint8_t kind = 0, status = 0, trace_flags = 0, span_flags = 0;
  std::uint64_t start_raw = 0, end_raw = 0, start_unix_ns = 0, end_unix_ns = 0;
  std::string name;
  bool name_interned = false;
  std::string root_name;  // name of the span's local root ("" when unknown)
  std::string status_message;
  std::string trace_state;
  std::uint32_t dropped_attributes = 0, dropped_events = 0, dropped_links = 0;
  std::vector<ReadAttr> attributes;
  std::vector<ReadEvent> events;
  std::vector<ReadLink> links;
  std::uint32_t ring = 0;

  // The last attribute with `key` (the agent keeps the last), or null.
  const ReadAttr* attribute(std::string_view key) const;
};

struct SegmentContents {
  std::string error;  // empty when the segment opened
  std::string service;
  std::vector<std::pair<std::string, std::string>> resource;
  std::uint32_t clock_source = 0;
  std::uint32_t producer_pid = 0;
  std::uint32_t ring_count = 0;
  std::uint32_t closed = 0;
  std::uint64_t spans_written = 0, spans_dropped_full = 0, spans_dropped_no_ring = 0;
  std::uint64_t traceparent_invalid = 0;
  std::uint64_t ring_release_generation = 0;
  std::uint64_t rejected = 0;
  std::vector<std::uint64_t> heads;  // per ring
  std::vector<std::uint32_t> owners; // per ring: owner_tid, 0 = free
  std::vector<ReadSpan> spans;       // ring by ring, in ring order

  // Exactly one span named `name` must exist; returns it, or null (and a test failure).
  const ReadSpan* only(std::string_view name) const;
};

// Opens `segment` with shm::SegmentReader, reads every ring from position 0 and copies the
// spans out. Does not commit tails.
SegmentContents read_segment(const std::string& segment);

// ---------------------------------------------------------------------------------------------
// Ids

std::array<std::uint8_t, 16> bytes_of(const TraceId& id);
std::array<std::uint8_t, 8> bytes_of(const SpanId& id);
std::string hex(const TraceId& id);
std::string hex(const SpanId& id);
std::string hex(const std::array<std::uint8_t, 16>& id);
std::string hex(const std::array<std::uint8_t, 8>& id);

// ---------------------------------------------------------------------------------------------
// Fixture: clean environment, and one segment per test that is shut down and removed after.

class TracerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // init() with a unique service name (unless set) and a small segment (unless set). Records
  // the segment for removal. Fails the test when init fails.
  InitStatus start_tracer(Options options = {});
  // Shuts the tracer down and returns the segment contents.
  SegmentContents stop_and_read();

  std::string service_;
  std::string segment_;

 private:
  std::vector<std::unique_ptr<ScopedEnv>> env_;
};

// Checks that the tracer is off and every API call is a no-op: spans do not record, ids are
// invalid, counters are zero, nothing crashes. Returns what was not (empty: all fine), so a
// forked child can use it too.
std::string noop_violations();
inline void expect_tracer_is_a_noop() { EXPECT_EQ(noop_violations(), ""); }

// ---------------------------------------------------------------------------------------------
// Forked children

struct ChildResult {
  int exit_code = -1;  // _exit code, or -1 when killed by a signal
  int signal = 0;
  int pid = 0;
  std::string output;  // what the child wrote with child_note()
};

// Runs `fn` in a forked child and returns its _exit code (fn's return value). The child never
// returns into gtest: no assertion macros inside `fn`; report through the exit code and
// child_note().
ChildResult run_in_child(const std::function<int()>& fn);

// In a child started by run_in_child: appends a line to the output returned to the parent.
void child_note(const std::string& line);

// The value of the first "key=value" line of a child's output ("" when absent).
std::string note_value(const std::string& output, std::string_view key);

}  // namespace spanring::test

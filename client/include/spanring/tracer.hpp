// spanring C++ API — what an inference engine calls.
//
//   spanring::Options o;  o.service_name = "llm-server";
//   if (auto st = spanring::init(o); !st.ok()) log(st.message);   // engine keeps running
//
//   static const spanring::Key kHit("cache.hit");                  // interned once
//   spanring::Span req("llm_inference", spanring::SpanKind::kServer);
//   spanring::Scope scope(req);                                    // current span of this thread
//   {
//     spanring::Span lookup("cache_lookup");                       // child of the current span
//     lookup.set_attribute(kHit, true);
//   }                                                              // ends here (RAII)
//
// Costs: a span is built in its own buffer inside the Span object (~1.1 KiB, on the caller's
// stack) by the span encoder (spanring/shm/span_codec.hpp) and copied into the thread's
// shared-memory ring when it ends — see detail/ring_writer.hpp. Nothing here allocates, locks or makes a syscall after a thread's
// first span. Span, Key and Scope methods are noexcept and need no checking: when spanring is
// not initialised (or init failed) every call is a cheap no-op.
//
// Threading: a Span belongs to the thread that created it until it ends; Key is immutable and
// usable from any thread; init/shutdown may be called from any thread but not concurrently
// with each other.
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spanring/detail/ring_writer.hpp"
#include "spanring/shm/abi.hpp"
#include "spanring/shm/span_codec.hpp"
#include "spanring/span_context.hpp"

namespace spanring {

// ------------------------------------------------------------------------------------------
// Initialisation (slow path, client/src/tracer.cpp)

// No group-read mode: the agent writes each ring's `tail`, so read-only access cannot drain.
enum class Access {
  kOwner,       // 0600: only the engine's user (and root) can read the segment
  kGroupWrite,  // 0660: an agent running as another user in the engine's group can drain it
};

// Precedence, the same for every setting below that also has an environment variable: the API
// wins over the variable. A setting the code leaves unset (empty string, 0, std::nullopt) is
// taken from its variable, then from the built-in default; a setting the code sets is used as it
// is and its variable is not read (so not checked either); resource attributes merge key by key,
// the code's value winning for a key both give. This is how OpenTelemetry SDKs treat
// code over environment; it lets an engine pin a choice that an inherited environment cannot
// undo, while an engine that leaves it open can be tuned per deployment.
struct Options {
  // service.name; empty → OTEL_SERVICE_NAME, then "unknown_service:<executable>".
  std::string service_name;
  // Segment size in bytes; 0 → SPANRING_SHM_SIZE, then 4 MiB (15 rings × 2048 records:
  // 30720 records, i.e. that many spans of ≤ 120 encoded bytes — about four attributes).
  std::uint64_t shm_size = 0;
  // Ring count; 0 → SPANRING_RINGS, then as many 2048-record rings as the size holds.
  std::uint32_t rings = 0;
  // Unset → SPANRING_SHM_MODE (0600 | 0660), then kOwner.
  std::optional<Access> access;
  // Group of the segment: a group name or a numeric gid; empty → SPANRING_SHM_GROUP, then the
  // engine's effective (primary) group. Set before the segment is marked ready, so with
  // kGroupWrite an agent in this group (e.g. "spanring") can drain an engine that is only a
  // supplementary member of it. An unknown name fails init (kInvalidArgument); a group the
  // engine's user is not in (and is not root) fails it too (kPermissionDenied).
  std::string group;
  // Resource attributes; merged over OTEL_RESOURCE_ATTRIBUTES (these win).
  std::vector<std::pair<std::string, std::string>> resource_attributes;
  // Clock: true uses the TSC when the CPU calls it invariant, whatever the kernel's clocksource
  // (the agent handles the jumps a VM's TSC can make: shm/clock.hpp); false forces
  // CLOCK_MONOTONIC. Unset → SPANRING_CLOCK (tsc | monotonic), then true. The TSC still falls
  // back to CLOCK_MONOTONIC on a CPU without an invariant TSC, whoever asked for it.
  std::optional<bool> prefer_tsc;
};

enum class InitCode {
  kOk = 0,
  kAlreadyInitialized,  // call shutdown() first
  kInvalidArgument,     // a setting is out of range or unknown (e.g. no such group): the message names it
  kNameTooLong,         // service name longer than 128 bytes
  kSegmentExists,       // /dev/shm/<name> exists (another process made it): not reused
  kPermissionDenied,    // /dev/shm not writable for this user, or the segment group refused
                        // (the user is not a member of Options::group / SPANRING_SHM_GROUP)
  kNoSpace,             // /dev/shm full
  kUnavailable,         // no /dev/shm, or another OS error: the message says which
  kDisabled,            // OTEL_SDK_DISABLED=true: tracing is off, on purpose
};

struct InitStatus {
  InitCode code = InitCode::kOk;
  // On failure: human-readable, names the setting, the segment and the OS error. On success:
  // empty, or warnings worth logging (a setting ignored or without effect). A segment made by
  // root with mode 0600, which no non-root agent can drain, is reported on stderr instead (one
  // line naming the fix), since many engines log the message only on failure.
  std::string message;
  std::string segment;  // segment name on success
  bool ok() const noexcept { return code == InitCode::kOk; }
};

// Creates this process's segment. On failure every later call is a no-op. After fork() the
// child is a no-op until it calls init() again (its own segment, named with its own pid).
InitStatus init(const Options& options = {});

// Marks the segment closed (the agent then drains and removes it) and turns tracing off.
// Spans still open are dropped silently when they end (they are not counted as created).
void shutdown();

// True between a successful init() and shutdown(), in the process that called init().
bool enabled() noexcept;

// Name of the segment in /dev/shm (empty when not enabled).
std::string segment_name();

// ------------------------------------------------------------------------------------------
// Interned strings

// A span name or attribute key, interned once into the process's string table so the hot
// path copies a 2-byte id instead of the text. Construct it once (static or at start-up);
// it references `text`, which must outlive it (a literal, or static storage). When the table
// is full (4096 strings, or 64 KiB of text counting 2 bytes per string; also before init, so
// every id fits the segment init makes) the Key falls back to copying its text into each span.
class Key {
 public:
  explicit Key(std::string_view text) noexcept;
  // A key that is never interned: its text is copied into each span that uses it.
  static Key inline_text(std::string_view text) noexcept { return Key(text, 0); }
  // For bindings that stored a Key's (text, ref) pair: rebuilds it without a registry lookup.
  static Key from_parts(std::string_view text, std::uint16_t ref) noexcept { return Key(text, ref); }
  std::string_view text() const noexcept { return text_; }
  std::uint16_t ref() const noexcept { return ref_; }  // 0x8000|id, or 0 when not interned

 private:
  friend Key intern(std::string_view text) noexcept;
  Key(std::string_view text, std::uint16_t ref) noexcept : text_(text), ref_(ref) {}
  std::string_view text_;
  std::uint16_t ref_ = 0;
};

// Interns a string and returns its Key; for keys built at run time (the C API, bindings).
// The text is copied into the registry, so `text` need not outlive the call.
Key intern(std::string_view text) noexcept;

// ------------------------------------------------------------------------------------------
// Spans

// Span kind and status code: the ABI's definitions (shm/abi.hpp), values as in OTLP.
using SpanKind = shm::SpanKind;
using StatusCode = shm::StatusCode;

// An attribute for events and links: key plus one of bool, int64, double, string, or an array
// of one of them. The text and arrays are referenced, not copied: they must live until the call
// that takes the attribute returns.
struct Attribute {
  using Type = shm::AttrType;  // kAttrBool … kAttrString, kAttrBoolArray … kAttrStringArray
  Attribute(const Key& k, bool v) noexcept : key_ref(k.ref()), key(k.text()), type(shm::kAttrBool) { b = v; }
  Attribute(const Key& k, std::int64_t v) noexcept : key_ref(k.ref()), key(k.text()), type(shm::kAttrInt) { i = v; }
  Attribute(const Key& k, int v) noexcept : Attribute(k, std::int64_t{v}) {}
  Attribute(const Key& k, double v) noexcept : key_ref(k.ref()), key(k.text()), type(shm::kAttrDouble) { d = v; }
  Attribute(const Key& k, std::string_view v) noexcept : key_ref(k.ref()), key(k.text()), type(shm::kAttrString) { s = v; }
  Attribute(const Key& k, const char* v) noexcept : Attribute(k, std::string_view(v)) {}
  Attribute(std::string_view k, bool v) noexcept : key(k), type(shm::kAttrBool) { b = v; }
  Attribute(std::string_view k, std::int64_t v) noexcept : key(k), type(shm::kAttrInt) { i = v; }
  Attribute(std::string_view k, int v) noexcept : Attribute(k, std::int64_t{v}) {}
  Attribute(std::string_view k, double v) noexcept : key(k), type(shm::kAttrDouble) { d = v; }
  Attribute(std::string_view k, std::string_view v) noexcept : key(k), type(shm::kAttrString) { s = v; }
  Attribute(std::string_view k, const char* v) noexcept : Attribute(k, std::string_view(v)) {}
  Attribute(const Key& k, std::span<const bool> v) noexcept : Attribute(k.ref(), k.text(), shm::kAttrBoolArray, v.data(), v.size()) {}
  Attribute(const Key& k, std::span<const std::int64_t> v) noexcept : Attribute(k.ref(), k.text(), shm::kAttrIntArray, v.data(), v.size()) {}
  Attribute(const Key& k, std::span<const double> v) noexcept : Attribute(k.ref(), k.text(), shm::kAttrDoubleArray, v.data(), v.size()) {}
  Attribute(const Key& k, std::span<const std::string_view> v) noexcept : Attribute(k.ref(), k.text(), shm::kAttrStringArray, v.data(), v.size()) {}
  Attribute(std::string_view k, std::span<const bool> v) noexcept : Attribute(0, k, shm::kAttrBoolArray, v.data(), v.size()) {}
  Attribute(std::string_view k, std::span<const std::int64_t> v) noexcept : Attribute(0, k, shm::kAttrIntArray, v.data(), v.size()) {}
  Attribute(std::string_view k, std::span<const double> v) noexcept : Attribute(0, k, shm::kAttrDoubleArray, v.data(), v.size()) {}
  Attribute(std::string_view k, std::span<const std::string_view> v) noexcept : Attribute(0, k, shm::kAttrStringArray, v.data(), v.size()) {}
  // An array of `count` elements of the array type's element (bool as one byte each).
  Attribute(std::uint16_t k_ref, std::string_view k, Type array_type, const void* values, std::size_t count) noexcept
      : key_ref(k_ref), key(k), type(array_type), array(values), array_count(count) { i = 0; }

  std::uint16_t key_ref = 0;
  std::string_view key;
  Type type;
  union {
    bool b;
    std::int64_t i;
    double d;
  };
  std::string_view s;
  const void* array = nullptr;  // arrays: bool / int64 / double / std::string_view elements
  std::size_t array_count = 0;
};

class Span;

namespace detail {
// The innermost Scope of this thread (null: none). Read on span start without a parent.
inline thread_local Span* t_current [[gnu::tls_model(SPANRING_TLS_MODEL)]] = nullptr;  // see ring_writer.hpp
[[gnu::cold]] void note_traceparent_invalid() noexcept;
// CPUID.80000007H:EDX[8]: what decides whether spans record rdtsc (unless SPANRING_CLOCK /
// Options::prefer_tsc say monotonic).
bool cpu_has_invariant_tsc() noexcept;
// Whether this process's spans record rdtsc (true) or CLOCK_MONOTONIC (false), as chosen by the
// last init (benchmarks report it).
bool using_tsc() noexcept;
// The kernel's current clocksource ("tsc", "kvm-clock", …; empty when unreadable). Reported
// next to using_tsc(); it does not decide the clock any more (shm/clock.hpp says why).
std::string kernel_clocksource();
// For tests only: the file kernel_clocksource() reads instead of
// /sys/devices/system/clocksource/clocksource0/current_clocksource; nullptr restores it. Lets a
// test play a kernel that distrusts the TSC on any machine.
void set_clocksource_path_for_testing(const char* path);
}  // namespace detail

class Span {
 public:
  // Child of this thread's current span (Scope), or a new root trace when there is none.
  explicit Span(std::string_view name, SpanKind kind = SpanKind::kInternal) noexcept;
  explicit Span(const Key& name, SpanKind kind = SpanKind::kInternal) noexcept;
  // Child of an explicit local parent (no thread-local lookup).
  Span(std::string_view name, const Span& parent, SpanKind kind = SpanKind::kInternal) noexcept;
  Span(const Key& name, const Span& parent, SpanKind kind = SpanKind::kInternal) noexcept;
  // Child of a remote parent (extracted from traceparent); an invalid context starts a root.
  Span(std::string_view name, const SpanContext& remote_parent, SpanKind kind = SpanKind::kServer) noexcept;
  Span(const Key& name, const SpanContext& remote_parent, SpanKind kind = SpanKind::kServer) noexcept;
  // Explicitly a new root trace, ignoring the current scope.
  struct NewRoot {};
  Span(const Key& name, NewRoot, SpanKind kind = SpanKind::kInternal) noexcept;
  Span(std::string_view name, NewRoot, SpanKind kind = SpanKind::kInternal) noexcept;

  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  ~Span() {
    if (recording_) end();
  }

  // Attributes: a later value for the same key is appended; the agent keeps the last.
  void set_attribute(const Key& key, bool v) noexcept { put_attr(key.ref(), key.text(), shm::kAttrBool, &v, 1); }
  void set_attribute(const Key& key, std::int64_t v) noexcept { put_attr(key.ref(), key.text(), shm::kAttrInt, &v, 8); }
  void set_attribute(const Key& key, int v) noexcept { set_attribute(key, std::int64_t{v}); }
  void set_attribute(const Key& key, double v) noexcept { put_attr(key.ref(), key.text(), shm::kAttrDouble, &v, 8); }
  void set_attribute(const Key& key, std::string_view v) noexcept { put_attr_str(key.ref(), key.text(), 0, v); }
  void set_attribute(const Key& key, const char* v) noexcept { set_attribute(key, std::string_view(v)); }
  void set_attribute(const Key& key, const Key& v) noexcept { put_attr_str(key.ref(), key.text(), v.ref(), v.text()); }
  void set_attribute(std::string_view key, bool v) noexcept { put_attr(0, key, shm::kAttrBool, &v, 1); }
  void set_attribute(std::string_view key, std::int64_t v) noexcept { put_attr(0, key, shm::kAttrInt, &v, 8); }
  void set_attribute(std::string_view key, int v) noexcept { set_attribute(key, std::int64_t{v}); }
  void set_attribute(std::string_view key, double v) noexcept { put_attr(0, key, shm::kAttrDouble, &v, 8); }
  void set_attribute(std::string_view key, std::string_view v) noexcept { put_attr_str(0, key, 0, v); }
  void set_attribute(std::string_view key, const char* v) noexcept { set_attribute(key, std::string_view(v)); }
  // Array attributes (OTLP ArrayValue; e.g. gen_ai.response.finish_reasons). Copied at once.
  // All or nothing: an array that does not fit the span is dropped whole and counted.
  void set_attribute(const Key& key, std::span<const bool> v) noexcept { put_array(key.ref(), key.text(), shm::kAttrBoolArray, v.data(), v.size()); }
  void set_attribute(const Key& key, std::span<const std::int64_t> v) noexcept { put_array(key.ref(), key.text(), shm::kAttrIntArray, v.data(), v.size()); }
  void set_attribute(const Key& key, std::span<const double> v) noexcept { put_array(key.ref(), key.text(), shm::kAttrDoubleArray, v.data(), v.size()); }
  void set_attribute(const Key& key, std::span<const std::string_view> v) noexcept { put_array(key.ref(), key.text(), shm::kAttrStringArray, v.data(), v.size()); }
  void set_attribute(std::string_view key, std::span<const bool> v) noexcept { put_array(0, key, shm::kAttrBoolArray, v.data(), v.size()); }
  void set_attribute(std::string_view key, std::span<const std::int64_t> v) noexcept { put_array(0, key, shm::kAttrIntArray, v.data(), v.size()); }
  void set_attribute(std::string_view key, std::span<const double> v) noexcept { put_array(0, key, shm::kAttrDoubleArray, v.data(), v.size()); }
  void set_attribute(std::string_view key, std::span<const std::string_view> v) noexcept { put_array(0, key, shm::kAttrStringArray, v.data(), v.size()); }

  // Explicit times, for times the engine measured itself (a request's arrival, its first
  // token) before it made the span. Unix ns (CLOCK_REALTIME), written as given: the agent does
  // not convert them (abi.hpp, kTimeUnixNs). A span may start at an explicit time and end on
  // the clock; an end before the start is exported as a zero-length span.
  void set_start_time_unix_ns(std::uint64_t unix_ns) noexcept {
    if (recording_) fixed().start_time = shm::explicit_time(unix_ns & ~shm::kTimeUnixNs);
  }
  // Ends the span at `unix_ns` instead of now (as end() otherwise).
  void end_at_unix_ns(std::uint64_t unix_ns) noexcept;

  // An event at the current time, with up to 255 attributes.
  void add_event(const Key& name, std::initializer_list<Attribute> attributes = {}) noexcept;
  void add_event(std::string_view name, std::initializer_list<Attribute> attributes = {}) noexcept;
  // An event with `count` attributes, at `time_unix_ns` (explicit Unix ns), or now when it is 0.
  void add_event(const Key& name, const Attribute* attributes, std::size_t count, std::uint64_t time_unix_ns = 0) noexcept;
  // The same for any indexable collection of Attribute-shaped values (the C API converts its
  // own attributes one at a time through this).
  template <class Attrs>
  void add_event(const Key& name, const Attrs& attributes, std::size_t count, std::uint64_t time_unix_ns = 0) noexcept {
    if (!recording_) return;
    if (!shm::encode_event(buf_, used_, event_time(time_unix_ns), name.ref(), name.text(), attributes, count))
      shm::count_dropped(fixed().dropped_events);
  }
  template <class Attrs>
  void add_link(const SpanContext& linked, const Attrs& attributes, std::size_t count) noexcept {
    if (!recording_) return;
    if (!shm::encode_link(buf_, used_, linked.trace_id.bytes, linked.span_id.bytes,
                          static_cast<std::uint8_t>(linked.trace_flags & (kTraceFlagSampled | kTraceFlagRandom)),
                          linked.is_remote, linked.trace_state_view(), attributes, count))
      shm::count_dropped(fixed().dropped_links);
  }
  // A link to another span (e.g. the requests batched into this step).
  void add_link(const SpanContext& linked, std::initializer_list<Attribute> attributes = {}) noexcept;
  void add_link(const SpanContext& linked, const Attribute* attributes, std::size_t count) noexcept;
  // Records an `exception` event (semantic conventions: exception.type, exception.message and,
  // when given, exception.stacktrace) and sets status ERROR with the message as description.
  void record_exception(std::string_view type, std::string_view message, std::string_view stacktrace = {}) noexcept;

  // OK is final; a description is kept only with ERROR (OpenTelemetry's status rules).
  void set_status(StatusCode code, std::string_view description = {}) noexcept;

  // Ends the span and writes it to the ring. Later calls (and the destructor) do nothing.
  void end() noexcept;

  bool recording() const noexcept { return recording_; }
  // This span's context, for injecting into outgoing requests.
  SpanContext context() const noexcept;
  TraceId trace_id() const noexcept;
  SpanId span_id() const noexcept;
  std::uint8_t trace_flags() const noexcept { return recording_ ? fixed().trace_flags : 0; }
  // The W3C tracestate this span carries (from its remote parent; empty when none), valid until
  // the span ends. A service forwards it with the traceparent.
  std::string_view trace_state() const noexcept {
    return recording_ && trace_state_at_ != 0 ? shm::trace_state_text(buf_, trace_state_at_) : std::string_view{};
  }
  // traceparent value of this span (kTraceparentLength chars, no NUL).
  void traceparent(char* out) const noexcept;

 private:
  friend class Scope;
  bool start(std::uint16_t name_ref, std::string_view name, SpanKind kind) noexcept;
  void inherit(const Span& parent) noexcept;
  void inherit(const SpanContext& parent) noexcept;
  void new_trace() noexcept;
  // Encode into buf_ with the span encoder (shm/span_codec.hpp); a value that does not fit is
  // counted in dropped_attributes.
  void put_attr(std::uint16_t key_ref, std::string_view key, shm::AttrType type, const void* v, std::uint32_t n) noexcept;
  void put_attr_str(std::uint16_t key_ref, std::string_view key, std::uint16_t v_ref, std::string_view v) noexcept;
  static std::uint64_t event_time(std::uint64_t unix_ns) noexcept {
    return unix_ns != 0 ? shm::explicit_time(unix_ns & ~shm::kTimeUnixNs) : detail::now();
  }
  void put_array(std::uint16_t key_ref, std::string_view key, shm::AttrType type, const void* v, std::size_t n) noexcept;
  shm::SpanFixed& fixed() noexcept { return shm::span_fixed(buf_); }
  const shm::SpanFixed& fixed() const noexcept { return shm::span_fixed(buf_); }

  bool recording_ = false;
  std::uint16_t used_ = 0;             // bytes of buf_ in use
  std::uint16_t trace_state_at_ = 0;   // offset of the kItemTraceState item, 0 = none
  alignas(8) std::uint8_t buf_[shm::kMaxSpanBytes];
};

// Makes `span` this thread's current span until the Scope is destroyed (stack discipline).
class Scope {
 public:
  explicit Scope(Span& span) noexcept : previous_(detail::t_current) { detail::t_current = &span; }
  ~Scope() { detail::t_current = previous_; }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Span* previous_;
};

// The current span of this thread (null when none).
inline Span* current_span() noexcept { return detail::t_current; }

// Log correlation: writes the current span's ids as lowercase hex (32 + 16 chars, no NUL).
// Returns false (and writes nothing) when the thread has no current span.
bool current_ids_hex(char* trace_id_hex, char* span_id_hex) noexcept;

// Counters of this process's tracer, for tests and for engines that report them.
struct ClientCounters {
  std::uint64_t spans_written = 0;
  std::uint64_t spans_dropped_full = 0;
  std::uint64_t spans_dropped_no_ring = 0;
  std::uint64_t traceparent_invalid = 0;
};
ClientCounters counters() noexcept;

// ------------------------------------------------------------------------------------------
// Inline hot path: the span's state (ids, times, the thread's ring) around the encoder's calls
// (shm/span_codec.hpp, which owns every byte of the encoding; abi.hpp "Span encoding").

inline void Span::put_attr(std::uint16_t key_ref, std::string_view key, shm::AttrType type, const void* v,
                           std::uint32_t n) noexcept {
  if (!recording_) return;
  // Did not fit: the span keeps what it had and counts the loss.
  if (!shm::encode_attribute(buf_, used_, type, key_ref, key, v, n)) [[unlikely]]
    shm::count_dropped(fixed().dropped_attributes);
}

inline void Span::put_attr_str(std::uint16_t key_ref, std::string_view key, std::uint16_t v_ref,
                               std::string_view v) noexcept {
  if (!recording_) return;
  if (!shm::encode_string_attribute(buf_, used_, key_ref, key, v_ref, v)) [[unlikely]]
    shm::count_dropped(fixed().dropped_attributes);
}

inline void Span::put_array(std::uint16_t key_ref, std::string_view key, shm::AttrType type, const void* v,
                            std::size_t n) noexcept {
  if (!recording_) return;
  if (!shm::encode_array_attribute(buf_, used_, type, key_ref, key, v, n)) [[unlikely]]
    shm::count_dropped(fixed().dropped_attributes);
}

inline bool Span::start(std::uint16_t name_ref, std::string_view name, SpanKind kind) noexcept {
  detail::ThreadRing& t = detail::thread_ring();
  if (!t.active) [[unlikely]]
    return false;  // tracer off: recording_ stays false and every call is a no-op
  shm::SpanFixed& f = fixed();
  std::uint64_t id;
  do {
    id = detail::next_random(t);
  } while (id == 0);
  std::memcpy(f.span_id, &id, 8);
  // Its own local root (root_name = name_ref) unless inherit() says otherwise.
  shm::encode_span_start(buf_, used_, kind, name_ref, name);
  trace_state_at_ = 0;
  recording_ = true;
  f.start_time = detail::now();
  return true;
}

inline void Span::new_trace() noexcept {
  detail::ThreadRing& t = detail::t_ring;  // start() already resolved it
  shm::SpanFixed& f = fixed();
  std::uint64_t hi = detail::next_random(t), lo;
  do {
    lo = detail::next_random(t);  // low 64 bits random ⇒ the low 56 bits W3C's random flag needs
  } while (lo == 0);
  std::memcpy(f.trace_id, &hi, 8);
  std::memcpy(f.trace_id + 8, &lo, 8);
  std::memset(f.parent_span_id, 0, 8);
  f.trace_flags = kTraceFlagSampled | kTraceFlagRandom;
  f.span_flags = 0;
}

inline void Span::inherit(const Span& parent) noexcept {
  shm::SpanFixed& f = fixed();
  if (!parent.recording_) {
    new_trace();
    return;
  }
  const shm::SpanFixed& p = parent.fixed();
  std::memcpy(f.trace_id, p.trace_id, 16);
  std::memcpy(f.parent_span_id, p.span_id, 8);
  f.trace_flags = p.trace_flags;
  // Local parent (is-remote known, false); the trace's remote origin and root are inherited.
  f.span_flags = shm::span_flags_local_parent(p.span_flags);
  f.root_name = p.root_name;
  if (parent.trace_state_at_ != 0) [[unlikely]]
    trace_state_at_ = shm::copy_trace_state(buf_, used_, parent.buf_, parent.trace_state_at_);
}

inline Span::Span(std::string_view name, SpanKind kind) noexcept {
  if (!start(0, name, kind)) return;
  if (detail::t_current) inherit(*detail::t_current); else new_trace();
}
inline Span::Span(const Key& name, SpanKind kind) noexcept {
  if (!start(name.ref(), name.text(), kind)) return;
  if (detail::t_current) inherit(*detail::t_current); else new_trace();
}
inline Span::Span(std::string_view name, const Span& parent, SpanKind kind) noexcept {
  if (start(0, name, kind)) inherit(parent);
}
inline Span::Span(const Key& name, const Span& parent, SpanKind kind) noexcept {
  if (start(name.ref(), name.text(), kind)) inherit(parent);
}
inline Span::Span(std::string_view name, const SpanContext& remote_parent, SpanKind kind) noexcept {
  if (start(0, name, kind)) inherit(remote_parent);
}
inline Span::Span(const Key& name, const SpanContext& remote_parent, SpanKind kind) noexcept {
  if (start(name.ref(), name.text(), kind)) inherit(remote_parent);
}
inline Span::Span(const Key& name, NewRoot, SpanKind kind) noexcept {
  if (start(name.ref(), name.text(), kind)) new_trace();
}
inline Span::Span(std::string_view name, NewRoot, SpanKind kind) noexcept {
  if (start(0, name, kind)) new_trace();
}

inline void Span::end() noexcept {
  if (!recording_) return;
  recording_ = false;
  fixed().end_time = detail::now();
  detail::commit_span(detail::thread_ring(), buf_, used_);
}

}  // namespace spanring

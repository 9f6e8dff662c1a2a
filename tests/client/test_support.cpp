#include "test_support.hpp"

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "spanring/shm/reader.hpp"
#include "spanring/shm/segment.hpp"

namespace spanring::test {

ScopedEnv::ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
  if (const char* old = std::getenv(name)) previous_ = old;
  if (value) ::setenv(name, value->c_str(), 1);
  else ::unsetenv(name);
}

ScopedEnv::~ScopedEnv() {
  if (previous_) ::setenv(name_.c_str(), previous_->c_str(), 1);
  else ::unsetenv(name_.c_str());
}

std::string unique_service(std::string_view suffix) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string s = "ct.";
  if (info != nullptr) s += std::string(info->test_suite_name()) + "." + info->name();
  if (s.size() > 100) s.resize(100);
  if (!suffix.empty()) s += "." + std::string(suffix);
  return s;
}

std::vector<std::string> segments_of(std::string_view service) {
  const std::string base = shm::segment_name(service, static_cast<std::uint32_t>(::getpid()), 0);
  std::vector<std::string> out;
  DIR* d = ::opendir("/dev/shm");
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view n(e->d_name);
    if (n == base || (n.size() > base.size() && n.substr(0, base.size()) == base && n[base.size()] == '.'))
      out.emplace_back(n);
  }
  ::closedir(d);
  return out;
}

const ReadAttr* ReadSpan::attribute(std::string_view key) const {
  const ReadAttr* found = nullptr;
  for (const ReadAttr& a : attributes)
    if (a.key == key) found = &a;
  return found;
}

const ReadSpan* SegmentContents::only(std::string_view name) const {
  const ReadSpan* found = nullptr;
  int n = 0;
  for (const ReadSpan& s : spans)
    if (s.name == name) found = &s, ++n;
  EXPECT_EQ(n, 1) << "spans named " << name;
  return n == 1 ? found : nullptr;
}

namespace {

ReadAttr copy(const shm::AttrView& a) {
  ReadAttr r;
  r.key = a.key;
  r.type = a.type;
  r.bool_value = a.bool_value;
  r.int_value = a.int_value;
  r.double_value = a.double_value;
  r.string_value = a.string_value;
  r.key_interned = a.key_id >= 0;
  shm::for_each_element(a, [&](const shm::AttrView& e) { r.elements.push_back(copy(e)); });
  return r;
}

ReadSpan copy(const shm::SpanView& v, std::uint32_t ring) {
  ReadSpan s;
  s.trace_id = v.trace_id;
  s.span_id = v.span_id;
  s.parent_span_id = v.parent_span_id;
  s.has_parent = v.has_parent;
  s.kind = v.kind;
  s.status = v.status;
  s.trace_flags = v.trace_flags;
  s.span_flags = v.span_flags;
  s.start_raw = v.start_raw;
  s.end_raw = v.end_raw;
  s.start_unix_ns = v.start_unix_ns;
  s.end_unix_ns = v.end_unix_ns;
  s.name = v.name;
  s.name_interned = v.name_id >= 0;
  s.root_name = v.root_name;
  s.status_message = v.status_message;
  s.trace_state = v.trace_state;
  s.dropped_attributes = v.dropped_attributes;
  s.dropped_events = v.dropped_events;
  s.dropped_links = v.dropped_links;
  for (const shm::AttrView& a : v.attributes) s.attributes.push_back(copy(a));
  for (const shm::EventView& e : v.events) {
    ReadEvent re;
    re.name = e.name;
    re.time_unix_ns = e.time_unix_ns;
    re.dropped_attributes = e.dropped_attributes;
    for (std::uint32_t i = 0; i < e.attr_count; ++i) re.attributes.push_back(copy(v.sub_attributes[e.first_attr + i]));
    s.events.push_back(std::move(re));
  }
  for (const shm::LinkView& l : v.links) {
    ReadLink rl;
    rl.trace_id = l.trace_id;
    rl.span_id = l.span_id;
    rl.trace_flags = l.trace_flags;
    rl.flags = l.flags;
    rl.trace_state = l.trace_state;
    rl.dropped_attributes = l.dropped_attributes;
    for (std::uint32_t i = 0; i < l.attr_count; ++i) rl.attributes.push_back(copy(v.sub_attributes[l.first_attr + i]));
    s.links.push_back(std::move(rl));
  }
  s.ring = ring;
  return s;
}

}  // namespace

SegmentContents read_segment(const std::string& segment) {
  SegmentContents c;
  auto reader = std::make_unique<shm::SegmentReader>();
  std::string message;
  if (shm::SegmentError e = reader->open(segment, message); e != shm::SegmentError::kOk) {
    c.error = std::string(shm::to_string(e)) + ": " + message;
    return c;
  }
  const shm::SegmentHeader& h = reader->header();
  c.service = reader->service_name();
  c.resource = reader->resource();
  c.clock_source = h.clock_source;
  c.producer_pid = h.producer_pid;
  c.ring_count = reader->ring_count();
  c.closed = reader->closed();
  c.spans_written = reader->spans_written();
  c.spans_dropped_full = reader->spans_dropped_full();
  c.spans_dropped_no_ring = reader->spans_dropped_no_ring();
  c.traceparent_invalid = reader->traceparent_invalid();
  c.ring_release_generation = reader->ring_release_generation();
  for (std::uint32_t r = 0; r < reader->ring_count(); ++r) {
    const std::uint64_t head = reader->head(r);
    c.heads.push_back(head);
    c.owners.push_back(reader->ring_owner(r));
    std::uint64_t pos = 0;
    while (pos < head) {
      const std::uint64_t next =
          reader->read(r, pos, head - pos, [&](const shm::SpanView& v) { c.spans.push_back(copy(v, r)); });
      if (next == pos) break;  // ring index rejected: counted below
      pos = next;
    }
  }
  c.rejected = reader->counters().rejected_total();
  return c;
}

std::array<std::uint8_t, 16> bytes_of(const TraceId& id) {
  std::array<std::uint8_t, 16> a;
  std::memcpy(a.data(), id.bytes, 16);
  return a;
}

std::array<std::uint8_t, 8> bytes_of(const SpanId& id) {
  std::array<std::uint8_t, 8> a;
  std::memcpy(a.data(), id.bytes, 8);
  return a;
}

std::string hex(const TraceId& id) {
  std::string s(32, '?');
  to_hex(id, s.data());
  return s;
}

std::string hex(const SpanId& id) {
  std::string s(16, '?');
  to_hex(id, s.data());
  return s;
}

std::string hex(const std::array<std::uint8_t, 16>& id) {
  TraceId t;
  std::memcpy(t.bytes, id.data(), 16);
  return hex(t);
}

std::string hex(const std::array<std::uint8_t, 8>& id) {
  SpanId s;
  std::memcpy(s.bytes, id.data(), 8);
  return hex(s);
}

// ---------------------------------------------------------------------------------------------

void TracerTest::SetUp() {
  for (const char* name : kTracerEnvironment) env_.push_back(std::make_unique<ScopedEnv>(name, std::nullopt));
  service_ = unique_service();
}

void TracerTest::TearDown() {
  spanring::shutdown();
  for (const std::string& s : segments_of(service_)) shm::remove_segment(s);
  if (!segment_.empty()) shm::remove_segment(segment_);
  env_.clear();
}

InitStatus TracerTest::start_tracer(Options options) {
  if (options.service_name.empty()) options.service_name = service_;
  if (options.shm_size == 0) options.shm_size = kSmallSegment;
  InitStatus st = spanring::init(options);
  EXPECT_TRUE(st.ok()) << st.message;
  segment_ = st.segment;
  return st;
}

SegmentContents TracerTest::stop_and_read() {
  spanring::shutdown();
  SegmentContents c = read_segment(segment_);
  EXPECT_EQ(c.error, "");
  EXPECT_EQ(c.rejected, 0u);
  return c;
}

std::string noop_violations() {
  std::string v;
  auto check = [&v](bool ok, const char* what) {
    if (!ok) v += std::string(what) + "; ";
  };
  check(!spanring::enabled(), "enabled()");
  check(spanring::segment_name().empty(), "segment_name() not empty");

  static const Key kName("noop.span");
  Span span(kName, SpanKind::kServer);
  check(!span.recording(), "span records");
  span.set_attribute("noop.int", 7);
  span.set_attribute(kName, "text");
  span.add_event("noop.event", {Attribute("k", 1)});
  span.record_exception("E", "m");
  span.set_status(StatusCode::kError, "failed");
  {
    Scope scope(span);
    char trace_hex[32], span_hex[16];
    check(!current_ids_hex(trace_hex, span_hex), "current_ids_hex() returned ids");
    Span child("noop.child");
    check(!child.recording(), "child span records");
  }
  check(!span.trace_id().valid(), "span has a trace id");
  check(!span.span_id().valid(), "span has a span id");
  check(!span.context().valid(), "span has a context");
  char traceparent[kTraceparentLength];
  span.traceparent(traceparent);
  check(std::string_view(traceparent, kTraceparentLength) == "00-00000000000000000000000000000000-0000000000000000-00",
        "traceparent() is not all zero");
  span.end();

  const ClientCounters c = counters();
  check(c.spans_written == 0, "spans_written != 0");
  check(c.spans_dropped_full == 0, "spans_dropped_full != 0");
  check(c.spans_dropped_no_ring == 0, "spans_dropped_no_ring != 0");
  check(c.traceparent_invalid == 0, "traceparent_invalid != 0");
  return v;
}

// ---------------------------------------------------------------------------------------------

namespace {
int g_note_fd = -1;
}

void child_note(const std::string& line) {
  if (g_note_fd < 0) return;
  const std::string s = line + "\n";
  std::size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(g_note_fd, s.data() + done, s.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

std::string note_value(const std::string& output, std::string_view key) {
  const std::string prefix = std::string(key) + "=";
  std::size_t at = 0;
  while (at < output.size()) {
    std::size_t end = output.find('\n', at);
    if (end == std::string::npos) end = output.size();
    if (output.compare(at, prefix.size(), prefix) == 0) return output.substr(at + prefix.size(), end - at - prefix.size());
    at = end + 1;
  }
  return "";
}

ChildResult run_in_child(const std::function<int()>& fn) {
  ChildResult result;
  int fds[2];
  if (::pipe(fds) != 0) {
    result.output = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    result.output = std::string("fork: ") + std::strerror(errno);
    ::close(fds[0]);
    ::close(fds[1]);
    return result;
  }
  if (pid == 0) {
    ::close(fds[0]);
    g_note_fd = fds[1];
    int code = 125;
    try {
      code = fn();
    } catch (const std::exception& e) {
      child_note(std::string("exception: ") + e.what());
    } catch (...) {
      child_note("unknown exception");
    }
    // _exit: no atexit handlers or static destructors of the parent's copy run in the child.
    ::_exit(code);
  }
  result.pid = pid;
  ::close(fds[1]);
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) result.output.append(buf, static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR) break;
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

}  // namespace spanring::test

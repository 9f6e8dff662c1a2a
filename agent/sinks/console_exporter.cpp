#include "agent/sinks/console_exporter.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "agent/base/utf8.hpp"

namespace spanring::agent {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kBarColumns = 40;
constexpr std::size_t kMaxLabelColumns = 60;  // indentation + service + name + kind
constexpr std::size_t kMaxIndentDepth = 16;   // deeper spans stay at this indentation
constexpr std::size_t kMaxDetailColumns = 80;
// Caps on what a buffered span keeps, so max_pending_spans also bounds bytes.
constexpr std::size_t kMaxNameColumns = 128;
constexpr std::size_t kMaxServiceColumns = 64;
constexpr std::size_t kMaxStatusColumns = 60;

// ---- text for a terminal ---------------------------------------------------------------------

// One code point (or one offending byte) of `s` at `i`: its length in bytes and whether it may
// reach the terminal. C0/C1 controls and DEL could move the cursor or start escape sequences.
struct Unit {
  std::size_t len;
  bool printable;
};

Unit next_unit(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return {1, c >= 0x20 && c != 0x7F};
  const std::size_t len = detail::utf8_sequence_length(s, i);
  if (len == 0) return {1, false};
  const bool c1 = c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0;
  return {len, !c1};
}

std::size_t columns(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); i += next_unit(s, i).len) ++n;
  return n;
}

// Appends `s` with unprintable units as '?', cut to `max_cols` code points ("..." marks a cut).
// Returns the columns appended (one per code point; wide characters are not measured).
std::size_t append_printable(std::string& out, std::string_view s, std::size_t max_cols) {
  const std::size_t total = columns(s);
  const bool cut = total > max_cols;
  const std::size_t dots = cut ? std::min<std::size_t>(3, max_cols) : 0;
  const std::size_t keep = cut ? max_cols - dots : total;
  std::size_t i = 0;
  for (std::size_t n = 0; n < keep; ++n) {
    const Unit u = next_unit(s, i);
    if (u.printable) {
      out.append(s.data() + i, u.len);
    } else {
      out += '?';
    }
    i += u.len;
  }
  out.append(dots, '.');
  return keep + dots;
}

void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "Infinity" : "-Infinity";
  } else {
    std::array<char, 32> buf{};
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), r.ptr);
  }
}

// Renders an attribute value compactly; stops descending once `out` is longer than any line
// could show, so a huge array costs no more than a short one.
void append_value(std::string& out, const common::AnyValue& v) {
  constexpr std::size_t kEnough = 2 * kMaxDetailColumns;
  switch (v.value_case()) {
    case common::AnyValue::kStringValue:
      if (v.string_value().empty()) {
        out += "\"\"";
      } else {
        append_printable(out, v.string_value(), kMaxDetailColumns);
      }
      break;
    case common::AnyValue::kBoolValue: out += v.bool_value() ? "true" : "false"; break;
    case common::AnyValue::kIntValue: out += std::to_string(v.int_value()); break;
    case common::AnyValue::kDoubleValue: append_double(out, v.double_value()); break;
    case common::AnyValue::kBytesValue: out += "<" + std::to_string(v.bytes_value().size()) + " bytes>"; break;
    case common::AnyValue::kArrayValue: {
      out += '[';
      bool first = true;
      for (const auto& item : v.array_value().values()) {
        if (out.size() > kEnough) break;
        if (!first) out += ',';
        first = false;
        append_value(out, item);
      }
      out += ']';
      break;
    }
    case common::AnyValue::kKvlistValue: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.kvlist_value().values()) {
        if (out.size() > kEnough) break;
        if (!first) out += ',';
        first = false;
        append_printable(out, kv.key(), kMaxDetailColumns);
        out += '=';
        append_value(out, kv.value());
      }
      out += '}';
      break;
    }
    case common::AnyValue::VALUE_NOT_SET: out += "<empty>"; break;
  }
}

// "k=v k=v events=a,b", cut to kMaxDetailColumns.
std::string render_attributes(const trace::Span& span) {
  std::string raw;
  for (const auto& kv : span.attributes()) {
    if (raw.size() > 2 * kMaxDetailColumns) break;
    if (!raw.empty()) raw += ' ';
    append_printable(raw, kv.key(), kMaxDetailColumns);
    raw += '=';
    append_value(raw, kv.value());
  }
  if (!span.events().empty() && raw.size() <= 2 * kMaxDetailColumns) {
    raw += raw.empty() ? "events=" : " events=";
    bool first = true;
    for (const auto& e : span.events()) {
      if (raw.size() > 2 * kMaxDetailColumns) break;
      if (!first) raw += ',';
      first = false;
      append_printable(raw, e.name(), kMaxDetailColumns);
    }
  }
  std::string out;
  append_printable(out, raw, kMaxDetailColumns);  // already printable: this only cuts
  return out;
}

const char* kind_name(int kind) {
  switch (kind) {
    case trace::Span::SPAN_KIND_SERVER: return "server";
    case trace::Span::SPAN_KIND_CLIENT: return "client";
    case trace::Span::SPAN_KIND_PRODUCER: return "producer";
    case trace::Span::SPAN_KIND_CONSUMER: return "consumer";
    default: return nullptr;  // internal, unspecified (receivers treat it as internal), unknown
  }
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out += kDigits[c >> 4];
    out += kDigits[c & 0xF];
  }
  return out;
}

std::string format_ms(std::uint64_t ns) {
  std::array<char, 48> buf{};
  std::snprintf(buf.data(), buf.size(), "%.3f", static_cast<double>(ns) / 1e6);
  return buf.data();
}

// ---- buffered traces -------------------------------------------------------------------------

// What one span contributes to a waterfall, rendered and capped when it arrives.
struct SpanLine {
  std::string span_id;    // raw bytes
  std::string parent_id;  // raw bytes, empty for a root
  std::string name;
  std::string service;
  std::string status;   // "ERROR" or "ERROR: <message>", empty otherwise
  std::string details;  // attributes and events
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  int kind = 0;
  bool local_root = false;  // see is_local_root()

  std::uint64_t bytes() const {
    return sizeof(SpanLine) + span_id.size() + parent_id.size() + name.size() + service.size() + status.size() +
           details.size();
  }
};

struct PendingTrace {
  std::string trace_id;  // raw bytes
  std::vector<SpanLine> spans;
  std::uint64_t bytes = 0;
  Clock::time_point last_arrival;
  bool has_root = false;
};

enum class FlushReason { kComplete, kRootWaitExpired, kEvicted, kShutdown };

std::string render_trace(const PendingTrace& t, FlushReason reason) {
  const auto& spans = t.spans;
  const std::size_t n = spans.size();

  // Tree: a span hangs under the first span with its parent's id; anything else is top level.
  std::unordered_map<std::string_view, std::size_t> by_id;
  by_id.reserve(n);
  for (std::size_t i = 0; i < n; ++i) by_id.emplace(spans[i].span_id, i);
  std::vector<std::vector<std::size_t>> children(n);
  std::vector<std::size_t> tops;
  for (std::size_t i = 0; i < n; ++i) {
    const auto it = spans[i].parent_id.empty() ? by_id.end() : by_id.find(spans[i].parent_id);
    if (it == by_id.end() || it->second == i) {
      tops.push_back(i);
    } else {
      children[it->second].push_back(i);
    }
  }
  const auto by_start = [&](std::size_t a, std::size_t b) {
    return spans[a].start != spans[b].start ? spans[a].start < spans[b].start : a < b;
  };
  std::sort(tops.begin(), tops.end(), by_start);
  for (auto& c : children) std::sort(c.begin(), c.end(), by_start);

  // Depth-first with an explicit stack (a chain of 100k spans must not overflow the C++ stack).
  // Spans on a parent cycle are reachable from no top-level span; they are started as their own
  // tops afterwards, and `visited` ends the cycle.
  std::vector<std::pair<std::size_t, std::size_t>> order;  // (span, depth)
  order.reserve(n);
  std::vector<bool> visited(n, false);
  std::vector<std::pair<std::size_t, std::size_t>> stack;
  const auto walk = [&](std::size_t top) {
    stack.emplace_back(top, 0);
    while (!stack.empty()) {
      const auto [i, depth] = stack.back();
      stack.pop_back();
      if (visited[i]) continue;
      visited[i] = true;
      order.emplace_back(i, depth);
      for (auto c = children[i].rbegin(); c != children[i].rend(); ++c) stack.emplace_back(*c, depth + 1);
    }
  };
  for (const std::size_t top : tops) walk(top);
  for (std::size_t i = 0; i < n; ++i) {
    if (!visited[i]) walk(i);
  }

  std::uint64_t t0 = UINT64_MAX;
  std::uint64_t t1 = 0;
  for (const auto& s : spans) {
    t0 = std::min(t0, s.start);
    t1 = std::max(t1, std::max(s.start, s.end));
  }
  const std::uint64_t total = n == 0 ? 0 : t1 - t0;

  const SpanLine* root = nullptr;
  for (const std::size_t i : tops) {
    if (spans[i].local_root) {
      root = &spans[i];
      break;
    }
  }
  const std::string& service = root != nullptr ? root->service : (n != 0 ? spans[order[0].first].service : t.trace_id);

  std::string out = "trace " + hex(t.trace_id) + "  " + service + "  " + std::to_string(n) +
                    (n == 1 ? " span  " : " spans  ") + format_ms(total) + " ms";
  if (reason == FlushReason::kEvicted) out += "  (incomplete: pending-span limit)";
  if (root == nullptr) out += "  (root missing)";
  out += '\n';

  std::vector<std::string> labels;
  labels.reserve(n);
  std::size_t label_cols = 0;
  std::size_t ms_width = 0;
  for (const auto& [i, depth] : order) {
    const SpanLine& s = spans[i];
    std::string raw = s.service != service ? s.service + ": " + s.name : s.name;
    if (const char* kind = kind_name(s.kind)) raw += std::string(" [") + kind + "]";
    const std::size_t indent = 2 + 2 * std::min(depth, kMaxIndentDepth);
    std::string label(indent, ' ');
    const std::size_t room = kMaxLabelColumns - std::min(indent, kMaxLabelColumns - 8);
    const std::size_t cols = indent + append_printable(label, raw, room);
    label_cols = std::max(label_cols, cols);
    labels.push_back(std::move(label));
    ms_width = std::max(ms_width, format_ms(s.end > s.start ? s.end - s.start : 0).size());
  }

  for (std::size_t k = 0; k < order.size(); ++k) {
    const SpanLine& s = spans[order[k].first];
    const std::uint64_t end = std::max(s.start, s.end);
    out += labels[k];
    out.append(label_cols - columns(labels[k]) + 2, ' ');
    // Cells [b, e) of the bar: the span's start and end as fractions of the trace, widened to
    // one cell so that even a 1 µs span is visible.
    std::size_t b = 0;
    std::size_t e = kBarColumns;
    if (total != 0) {
      const double scale = static_cast<double>(kBarColumns) / static_cast<double>(total);
      b = static_cast<std::size_t>(std::floor(static_cast<double>(s.start - t0) * scale));
      e = static_cast<std::size_t>(std::ceil(static_cast<double>(end - t0) * scale));
      b = std::min(b, kBarColumns - 1);
      e = std::clamp(e, b + 1, kBarColumns);
    }
    out += '|';
    out.append(b, ' ');
    out.append(e - b, '#');
    out.append(kBarColumns - e, ' ');
    out += "| ";
    const std::string ms = format_ms(end - s.start);
    out.append(ms_width - ms.size(), ' ');
    out += ms;
    out += " ms";
    if (!s.status.empty()) out += "  " + s.status;
    if (!s.details.empty()) out += "  " + s.details;
    out += '\n';
  }
  return out;
}

std::string service_name(const opentelemetry::proto::trace::v1::ResourceSpans& rs) {
  for (const auto& kv : rs.resource().attributes()) {
    if (kv.key() == "service.name" && kv.value().value_case() == common::AnyValue::kStringValue) {
      std::string out;
      append_printable(out, kv.value().string_value(), kMaxServiceColumns);
      return out;
    }
  }
  return "unknown_service";  // the SDK default when service.name is missing
}

// No parent, or a parent in another process (SPEC §1.6 flags: is-remote known and set): the part
// of the trace that this process exports is complete once this span has arrived.
bool is_local_root(const trace::Span& span) {
  constexpr std::uint32_t kRemoteParent =
      trace::SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK | trace::SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK;
  return span.parent_span_id().empty() || (span.flags() & kRemoteParent) == kRemoteParent;
}

SpanLine make_line(const trace::Span& span, const std::string& service) {
  SpanLine line;
  line.span_id = span.span_id();
  line.parent_id = span.parent_span_id();
  append_printable(line.name, span.name(), kMaxNameColumns);
  line.service = service;
  line.start = span.start_time_unix_nano();
  line.end = span.end_time_unix_nano();
  line.kind = static_cast<int>(span.kind());
  line.local_root = is_local_root(span);
  if (span.status().code() == trace::Status::STATUS_CODE_ERROR) {
    line.status = "ERROR";
    if (!span.status().message().empty()) {
      line.status += ": ";
      append_printable(line.status, span.status().message(), kMaxStatusColumns);
    }
  }
  line.details = render_attributes(span);
  return line;
}

TraceFacts facts(const PendingTrace& t) {
  TraceFacts f;
  f.trace_id = t.trace_id;
  std::uint64_t t0 = UINT64_MAX;
  std::uint64_t t1 = 0;
  f.services.reserve(t.spans.size());
  for (const SpanLine& s : t.spans) {
    t0 = std::min(t0, s.start);
    t1 = std::max(t1, std::max(s.start, s.end));
    f.has_error = f.has_error || !s.status.empty();
    f.services.push_back(s.service);
  }
  f.duration_ns = t.spans.empty() ? 0 : t1 - t0;
  return f;
}

// ---- the exporter ------------------------------------------------------------------------------

ConsoleOptions with_output(ConsoleOptions o) {
  if (o.out == nullptr) o.out = stdout;
  return o;
}

// Lives in a shared_ptr so that timer and result handlers, which hold weak_ptrs, become no-ops
// once the exporter is destroyed.
class ConsoleCore : public std::enable_shared_from_this<ConsoleCore> {
 public:
  ConsoleCore(boost::asio::io_context& io, ResultCallback on_result, ConsoleOptions options)
      : io_(io),
        on_result_(std::move(on_result)),
        options_(with_output(options)),
        max_pending_(std::max<std::size_t>(1, options.max_pending_spans)),
        timer_(io) {}

  bool enqueue(ExportBatch batch) {
    if (shut_down_) return false;
    const auto now = Clock::now();
    ExportResult r;
    r.id = batch.id;
    r.spans = batch.spans;
    r.services = std::move(batch.services);
    r.attempts = 1;
    const ExportTraceServiceRequest request = batch.request();  // parsed: the console is not a hot path
    for (const auto& rs : request.resource_spans()) {
      const std::string service = service_name(rs);
      for (const auto& ss : rs.scope_spans()) {
        for (const auto& span : ss.spans()) add_span(span, service, now);
      }
    }
    boost::asio::post(io_, [weak = weak_from_this(), r = std::move(r), now]() mutable {
      const auto self = weak.lock();
      if (!self) return;
      r.latency = Clock::now() - now;
      if (self->on_result_) self->on_result_(r);
    });
    std::fflush(options_.out);
    arm_timer();
    return true;
  }

  void shutdown(std::function<void()> done) {
    if (shut_down_) return;
    shut_down_ = true;
    while (!ready_.empty()) emit(take(ready_), FlushReason::kShutdown);
    while (!waiting_.empty()) emit(take(waiting_), FlushReason::kShutdown);
    if (has_unreported()) print_summary();
    std::fflush(options_.out);
    ++timer_generation_;
    timer_.cancel();
    // Every result was posted by enqueue(), so `done` runs after the last of them.
    boost::asio::post(io_, [weak = weak_from_this(), done = std::move(done)] {
      if (weak.lock() && done) done();
    });
  }

  std::uint64_t pending_spans() const { return pending_spans_; }
  std::uint64_t pending_bytes() const { return pending_bytes_; }

 private:
  using TraceList = std::list<PendingTrace>;

  bool budget_spent() const { return options_.max_traces != 0 && printed_ >= options_.max_traces; }
  bool has_unreported() const { return hidden_spans_ != 0 || hidden_traces_ != 0 || evicted_ != 0; }

  void note_hidden(std::uint64_t traces, std::uint64_t spans, Clock::time_point now) {
    if (!has_unreported()) summary_due_ = now + options_.hold;
    hidden_traces_ += traces;
    hidden_spans_ += spans;
  }

  void add_span(const trace::Span& span, const std::string& service, Clock::time_point now) {
    if (budget_spent()) {
      note_hidden(is_local_root(span) ? 1 : 0, 1, now);
      return;
    }
    if (pending_spans_ >= max_pending_) {
      // The oldest trace is the one whose last span arrived first, i.e. the front of either list.
      const bool from_ready =
          waiting_.empty() || (!ready_.empty() && ready_.front().last_arrival <= waiting_.front().last_arrival);
      if (!has_unreported()) summary_due_ = now + options_.hold;
      ++evicted_;
      emit(take(from_ready ? ready_ : waiting_), FlushReason::kEvicted);
      if (budget_spent()) {  // that trace used up the budget: this span is only counted now
        note_hidden(is_local_root(span) ? 1 : 0, 1, now);
        return;
      }
    }
    auto [it, created] = index_.try_emplace(span.trace_id());
    if (created) {
      waiting_.emplace_back();
      waiting_.back().trace_id = span.trace_id();
      it->second = std::prev(waiting_.end());
    }
    const TraceList::iterator t = it->second;
    t->spans.push_back(make_line(span, service));
    const std::uint64_t bytes = t->spans.back().bytes();
    t->bytes += bytes;
    pending_bytes_ += bytes;
    ++pending_spans_;
    t->last_arrival = now;
    TraceList& from = t->has_root ? ready_ : waiting_;
    if (t->spans.back().local_root) t->has_root = true;
    // Keep both lists ordered by last arrival: the fronts are the next to print or to evict.
    // splice keeps `t` (and so the index entry) valid while the node moves.
    TraceList& to = t->has_root ? ready_ : waiting_;
    to.splice(to.end(), from, t);
  }

  PendingTrace take(TraceList& list) {
    PendingTrace t = std::move(list.front());
    list.pop_front();
    index_.erase(t.trace_id);
    pending_spans_ -= t.spans.size();
    pending_bytes_ -= t.bytes;
    return t;
  }

  void emit(const PendingTrace& t, FlushReason reason) {
    if (budget_spent()) {
      note_hidden(t.has_root ? 1 : 0, t.spans.size(), Clock::now());
      return;
    }
    if (options_.keep && !options_.keep(facts(t))) return;
    const std::string text = render_trace(t, reason);
    std::fwrite(text.data(), 1, text.size(), options_.out);
    ++printed_;
    if (budget_spent()) drop_pending();
  }

  // Nothing more will be printed: count what is buffered (traces by their roots, as later ones
  // will be) and free it.
  void drop_pending() {
    const auto now = Clock::now();
    for (TraceList* list : {&ready_, &waiting_}) {
      for (const auto& t : *list) note_hidden(t.has_root ? 1 : 0, t.spans.size(), now);
      list->clear();
    }
    index_.clear();
    pending_spans_ = 0;
    pending_bytes_ = 0;
  }

  void print_summary() {
    std::string line = "(";
    if (hidden_traces_ != 0 || hidden_spans_ != 0) {
      line += std::to_string(hidden_traces_) + (hidden_traces_ == 1 ? " more trace, " : " more traces, ") +
              std::to_string(hidden_spans_) + (hidden_spans_ == 1 ? " span not shown" : " spans not shown");
    }
    if (evicted_ != 0) {
      if (line.size() > 1) line += "; ";
      line += std::to_string(evicted_) + (evicted_ == 1 ? " trace" : " traces") + " forced out early by the " +
              std::to_string(max_pending_) + "-span buffer limit";
    }
    line += ")\n";
    std::fwrite(line.data(), 1, line.size(), options_.out);
    hidden_traces_ = 0;
    hidden_spans_ = 0;
    evicted_ = 0;
  }

  void on_timer() {
    const auto now = Clock::now();
    while (!ready_.empty() && ready_.front().last_arrival + options_.hold <= now) {
      emit(take(ready_), FlushReason::kComplete);
    }
    while (!waiting_.empty() && waiting_.front().last_arrival + options_.root_wait <= now) {
      emit(take(waiting_), FlushReason::kRootWaitExpired);
    }
    // Re-read the clock: traces counted just above set summary_due_ after `now`.
    if (has_unreported() && summary_due_ <= Clock::now()) print_summary();
    std::fflush(options_.out);
    arm_timer();
  }

  // One timer, set to the earliest of: the next complete trace's hold, the next rootless trace's
  // root_wait, the next summary. Left unarmed when there is nothing to wait for, so an idle
  // exporter keeps no work in the io_context.
  void arm_timer() {
    if (shut_down_) return;
    std::optional<Clock::time_point> next;
    const auto consider = [&](Clock::time_point t) {
      if (!next || t < *next) next = t;
    };
    if (!ready_.empty()) consider(ready_.front().last_arrival + options_.hold);
    if (!waiting_.empty()) consider(waiting_.front().last_arrival + options_.root_wait);
    if (has_unreported()) consider(summary_due_);
    if (!next) {
      if (timer_armed_) {
        timer_armed_ = false;
        ++timer_generation_;
        timer_.cancel();
      }
      return;
    }
    if (timer_armed_ && timer_expiry_ <= *next) return;  // it fires first and re-arms then
    timer_armed_ = true;
    timer_expiry_ = *next;
    const std::uint64_t generation = ++timer_generation_;
    timer_.expires_at(*next);  // cancels the previous wait
    timer_.async_wait([weak = weak_from_this(), generation](const boost::system::error_code& ec) {
      if (ec) return;  // cancelled
      const auto self = weak.lock();
      // A wait whose completion was already queued when it was replaced still arrives with
      // success; the generation tells it apart.
      if (!self || generation != self->timer_generation_) return;
      self->timer_armed_ = false;
      self->on_timer();
    });
  }

  boost::asio::io_context& io_;
  ResultCallback on_result_;
  const ConsoleOptions options_;
  const std::size_t max_pending_;
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  Clock::time_point timer_expiry_;
  std::uint64_t timer_generation_ = 0;

  // Traces with their root (waiting for `hold`) and without (waiting for the root or
  // `root_wait`), each ordered by last arrival; index_ finds a trace in either by id.
  TraceList ready_;
  TraceList waiting_;
  std::unordered_map<std::string, TraceList::iterator> index_;
  std::uint64_t pending_spans_ = 0;
  std::uint64_t pending_bytes_ = 0;

  std::size_t printed_ = 0;
  // Since the last summary line.
  std::uint64_t hidden_traces_ = 0;
  std::uint64_t hidden_spans_ = 0;
  std::uint64_t evicted_ = 0;
  Clock::time_point summary_due_;

  bool shut_down_ = false;
};

class ConsoleExporter final : public Exporter {
 public:
  explicit ConsoleExporter(std::shared_ptr<ConsoleCore> core) : core_(std::move(core)) {}
  bool enqueue(ExportBatch batch) override { return core_->enqueue(std::move(batch)); }
  void shutdown(Clock::time_point /*deadline*/, std::function<void()> done) override {
    core_->shutdown(std::move(done));
  }
  std::uint64_t queued_spans() const override { return core_->pending_spans(); }
  std::uint64_t queued_bytes() const override { return core_->pending_bytes(); }

 private:
  std::shared_ptr<ConsoleCore> core_;
};

}  // namespace

std::unique_ptr<Exporter> make_console_exporter(boost::asio::io_context& io, ResultCallback on_result,
                                                ConsoleOptions options) {
  return std::make_unique<ConsoleExporter>(std::make_shared<ConsoleCore>(io, std::move(on_result), options));
}

}  // namespace spanring::agent

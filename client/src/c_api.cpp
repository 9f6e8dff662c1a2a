// The C API: thin adapters over tracer.hpp. No exception crosses this boundary, and no NULL
// pointer is dereferenced: engines reach this through FFI, where a NULL is one binding bug
// away. Each check is one predictable branch on an argument already in a register; the C++
// hot path (tracer.hpp) has no such branch because references cannot be null.
#include "spanring/spanring.h"

#include <cstring>
#include <new>
#include <span>

#include "spanring/tracer.hpp"

using spanring::Span;

static_assert(sizeof(Span) <= SPANRING_SPAN_SIZE, "SPANRING_SPAN_SIZE too small");
static_assert(alignof(Span) <= 8);

// spanring.h spells kind and status again for C callers; the values are the ABI's (abi.hpp).
static_assert(SPANRING_KIND_INTERNAL == static_cast<int>(spanring::shm::SpanKind::kInternal));
static_assert(SPANRING_KIND_SERVER == static_cast<int>(spanring::shm::SpanKind::kServer));
static_assert(SPANRING_KIND_CLIENT == static_cast<int>(spanring::shm::SpanKind::kClient));
static_assert(SPANRING_KIND_PRODUCER == static_cast<int>(spanring::shm::SpanKind::kProducer));
static_assert(SPANRING_KIND_CONSUMER == static_cast<int>(spanring::shm::SpanKind::kConsumer));
static_assert(SPANRING_STATUS_UNSET == static_cast<int>(spanring::shm::StatusCode::kUnset));
static_assert(SPANRING_STATUS_OK == static_cast<int>(spanring::shm::StatusCode::kOk));
static_assert(SPANRING_STATUS_ERROR == static_cast<int>(spanring::shm::StatusCode::kError));
static_assert(int{SPANRING_ATTR_BOOL} == spanring::shm::kAttrBool && int{SPANRING_ATTR_INT} == spanring::shm::kAttrInt &&
              int{SPANRING_ATTR_DOUBLE} == spanring::shm::kAttrDouble && int{SPANRING_ATTR_STRING} == spanring::shm::kAttrString);
static_assert(int{SPANRING_ATTR_BOOL_ARRAY} == spanring::shm::kAttrBoolArray &&
              int{SPANRING_ATTR_INT_ARRAY} == spanring::shm::kAttrIntArray &&
              int{SPANRING_ATTR_DOUBLE_ARRAY} == spanring::shm::kAttrDoubleArray &&
              int{SPANRING_ATTR_STRING_ARRAY} == spanring::shm::kAttrStringArray);
static_assert(SPANRING_MAX_TRACESTATE_LENGTH == spanring::kMaxTraceStateLength);
static_assert(SPANRING_API_MAJOR == spanring::shm::kAbiMajor, "the soname follows the ABI (client/CMakeLists.txt)");

namespace {

Span* as_span(spanring_span* s) { return std::launder(reinterpret_cast<Span*>(s->opaque)); }
const Span* as_span(const spanring_span* s) { return std::launder(reinterpret_cast<const Span*>(s->opaque)); }

spanring::Key to_key(spanring_key k) {
  return spanring::Key::from_parts(std::string_view(k.text ? k.text : "", k.text ? k.length : 0), k.ref);
}

spanring_key from_key(const spanring::Key& k) { return spanring_key{k.text().data(), k.text().size(), k.ref()}; }

// A C caller's kind, or `fallback` when it is not one of the ABI's kinds.
spanring::SpanKind to_kind(int kind, spanring::SpanKind fallback) {
  return kind >= spanring::shm::kKindInternal && kind <= spanring::shm::kKindConsumer ? static_cast<spanring::SpanKind>(kind)
                                                                                       : fallback;
}

std::string_view view(const char* text, size_t length) { return std::string_view(text ? text : "", text ? length : 0); }

// A string array as the encoder takes it (std::string_view elements). More elements than this
// cannot fit a span (each takes ≥ 2 bytes), so a longer array is dropped without converting.
constexpr std::size_t kMaxStringElements = spanring::shm::kMaxSpanBytes / 2;
struct StringArray {
  std::string_view v[kMaxStringElements];
  // Null when the array cannot fit at all; the caller then drops it (the encoder counts it).
  const std::string_view* convert(const spanring_string* values, std::size_t count) {
    if (values == nullptr || count > kMaxStringElements) return nullptr;
    for (std::size_t k = 0; k < count; ++k) v[k] = view(values[k].text, values[k].length);
    return v;
  }
};

// The C attributes of an event or a link, converted one at a time as the encoder indexes them
// (shm::encode_attributes), so no array of converted attributes is needed.
struct CAttributes {
  const spanring_attribute* attrs;
  mutable StringArray strings;  // the one string array being encoded
  spanring::Attribute operator[](std::size_t k) const {
    const spanring_attribute& a = attrs[k];
    const spanring::Key key = to_key(a.key);
    switch (a.type) {
      case SPANRING_ATTR_BOOL: return spanring::Attribute(key, a.value.b != 0);
      case SPANRING_ATTR_INT: return spanring::Attribute(key, static_cast<std::int64_t>(a.value.i));
      case SPANRING_ATTR_DOUBLE: return spanring::Attribute(key, a.value.d);
      case SPANRING_ATTR_STRING: return spanring::Attribute(key, view(a.value.s.text, a.value.s.length));
      case SPANRING_ATTR_STRING_ARRAY: {
        const std::string_view* v =
            strings.convert(static_cast<const spanring_string*>(a.value.array.values), a.value.array.count);
        return spanring::Attribute(key.ref(), key.text(), spanring::shm::kAttrStringArray, v, v ? a.value.array.count : 1);
      }
      case SPANRING_ATTR_BOOL_ARRAY:
      case SPANRING_ATTR_INT_ARRAY:
      case SPANRING_ATTR_DOUBLE_ARRAY:
        return spanring::Attribute(key.ref(), key.text(), static_cast<spanring::Attribute::Type>(a.type),
                                   a.value.array.values, a.value.array.count);
      default:  // unknown type: an "array" the encoder refuses, so it is counted as dropped
        return spanring::Attribute(key.ref(), key.text(), spanring::Attribute::Type{}, nullptr, 1);
    }
  }
};

spanring::SpanContext to_context(const spanring_span_context& c) {
  spanring::SpanContext ctx;
  std::memcpy(ctx.trace_id.bytes, c.trace_id, 16);
  std::memcpy(ctx.span_id.bytes, c.span_id, 8);
  ctx.trace_flags = c.trace_flags;
  ctx.is_remote = c.is_remote != 0;
  ctx.trace_state_length = c.trace_state_length <= spanring::kMaxTraceStateLength ? c.trace_state_length : 0;
  std::memcpy(ctx.trace_state, c.trace_state, ctx.trace_state_length);
  return ctx;
}

void from_context(const spanring::SpanContext& ctx, spanring_span_context& out) {
  std::memcpy(out.trace_id, ctx.trace_id.bytes, 16);
  std::memcpy(out.span_id, ctx.span_id.bytes, 8);
  out.trace_flags = ctx.trace_flags;
  out.is_remote = ctx.is_remote ? 1 : 0;
  out.trace_state_length = ctx.trace_state_length;
  std::memcpy(out.trace_state, ctx.trace_state, ctx.trace_state_length);
}

}  // namespace

extern "C" {

int spanring_init(const spanring_options* options, char* error, size_t error_size) {
  try {
    spanring::Options o;
    if (options) {
      if (options->service_name) o.service_name = options->service_name;
      o.shm_size = options->shm_size;
      o.rings = options->rings;
      if (options->resource_keys != nullptr && options->resource_values != nullptr)
        for (std::size_t k = 0; k < options->resource_count; ++k)
          o.resource_attributes.emplace_back(
              std::string(view(options->resource_keys[k].text, options->resource_keys[k].length)),
              std::string(view(options->resource_values[k].text, options->resource_values[k].length)));
      // 0 leaves the mode unset (the variable decides); any unknown value gets the most
      // restrictive mode.
      if (options->access == SPANRING_ACCESS_GROUP_WRITE) {
        o.access = spanring::Access::kGroupWrite;
      } else if (options->access != SPANRING_ACCESS_DEFAULT) {
        o.access = spanring::Access::kOwner;
      }
    }
    const spanring::InitStatus st = spanring::init(o);
    if (error && error_size > 0) {
      const std::size_t n = st.message.size() < error_size - 1 ? st.message.size() : error_size - 1;
      std::memcpy(error, st.message.data(), n);
      error[n] = '\0';
    }
    return static_cast<int>(st.code);
  } catch (...) {
    if (error && error_size > 0) error[0] = '\0';
    return static_cast<int>(spanring::InitCode::kUnavailable);
  }
}

void spanring_shutdown(void) {
  try {
    spanring::shutdown();
  } catch (...) {
  }
}

int spanring_enabled(void) { return spanring::enabled() ? 1 : 0; }

void spanring_get_counters(uint64_t* spans_written, uint64_t* spans_dropped_full, uint64_t* spans_dropped_no_ring) {
  const spanring::ClientCounters c = spanring::counters();
  if (spans_written) *spans_written = c.spans_written;
  if (spans_dropped_full) *spans_dropped_full = c.spans_dropped_full;
  if (spans_dropped_no_ring) *spans_dropped_no_ring = c.spans_dropped_no_ring;
}

spanring_key spanring_intern(const char* text, size_t length) {
  return from_key(spanring::intern(std::string_view(text ? text : "", text ? length : 0)));
}

spanring_key spanring_key_inline(const char* text, size_t length) { return spanring_key{text, length, 0}; }

void spanring_span_start(spanring_span* span, spanring_key name, int kind, const spanring_span* parent) {
  if (span == nullptr) [[unlikely]]
    return;
  const spanring::SpanKind k = to_kind(kind, spanring::SpanKind::kInternal);
  const spanring::Key key = to_key(name);
  if (parent) new (span->opaque) Span(key, *as_span(parent), k);
  else new (span->opaque) Span(key, k);
}

int spanring_span_start_remote(spanring_span* span, spanring_key name, int kind, const char* traceparent,
                               size_t traceparent_length, const char* tracestate, size_t tracestate_length) {
  if (span == nullptr) [[unlikely]]
    return 0;
  spanring::SpanContext ctx;
  const bool ok = spanring::extract(std::string_view(traceparent ? traceparent : "", traceparent ? traceparent_length : 0),
                                    std::string_view(tracestate ? tracestate : "", tracestate ? tracestate_length : 0), ctx);
  const spanring::SpanKind k = to_kind(kind, spanring::SpanKind::kServer);
  const spanring::Key key = to_key(name);
  if (ok) new (span->opaque) Span(key, ctx, k);
  else new (span->opaque) Span(key, Span::NewRoot{}, k);
  return ok ? 1 : 0;
}

void spanring_span_set_bool(spanring_span* span, spanring_key key, int value) {
  if (span == nullptr) [[unlikely]]
    return;
  as_span(span)->set_attribute(to_key(key), value != 0);
}
void spanring_span_set_int(spanring_span* span, spanring_key key, int64_t value) {
  if (span == nullptr) [[unlikely]]
    return;
  as_span(span)->set_attribute(to_key(key), static_cast<std::int64_t>(value));
}
void spanring_span_set_double(spanring_span* span, spanring_key key, double value) {
  if (span == nullptr) [[unlikely]]
    return;
  as_span(span)->set_attribute(to_key(key), value);
}
void spanring_span_set_string(spanring_span* span, spanring_key key, const char* value, size_t length) {
  if (span == nullptr) [[unlikely]]
    return;
  as_span(span)->set_attribute(to_key(key), std::string_view(value ? value : "", value ? length : 0));
}
void spanring_span_set_bool_array(spanring_span* span, spanring_key key, const uint8_t* values, size_t count) {
  if (span == nullptr) [[unlikely]]
    return;
  // The encoder reads the elements as bytes (non-zero = true), never as bool. A NULL array with
  // elements goes to the encoder as such: it refuses it and counts the drop.
  as_span(span)->set_attribute(to_key(key), std::span<const bool>(reinterpret_cast<const bool*>(values), count));
}
void spanring_span_set_int_array(spanring_span* span, spanring_key key, const int64_t* values, size_t count) {
  if (span == nullptr) [[unlikely]]
    return;
  as_span(span)->set_attribute(to_key(key), std::span<const std::int64_t>(reinterpret_cast<const std::int64_t*>(values), count));
}
void spanring_span_set_double_array(spanring_span* span, spanring_key key, const double* values, size_t count) {
  if (span == nullptr) [[unlikely]]
    return;
  as_span(span)->set_attribute(to_key(key), std::span<const double>(values, count));
}
void spanring_span_set_string_array(spanring_span* span, spanring_key key, const spanring_string* values, size_t count) {
  if (span == nullptr) [[unlikely]]
    return;
  StringArray strings;
  const std::string_view* v = strings.convert(values, count);
  // Not convertible (NULL, or more elements than can fit): a one-element NULL array, which the
  // encoder refuses and counts.
  as_span(span)->set_attribute(to_key(key), std::span<const std::string_view>(v, v ? count : 1));
}
void spanring_span_set_start_time(spanring_span* span, uint64_t unix_ns) {
  if (span == nullptr) [[unlikely]]
    return;
  as_span(span)->set_start_time_unix_ns(unix_ns);
}
void spanring_span_end_at(spanring_span* span, uint64_t unix_ns) {
  if (span == nullptr) [[unlikely]]
    return;
  Span* s = as_span(span);
  s->end_at_unix_ns(unix_ns);
  s->~Span();
}
void spanring_span_add_event_with(spanring_span* span, spanring_key name, const spanring_attribute* attributes,
                                  size_t count, uint64_t time_unix_ns) {
  if (span == nullptr) [[unlikely]]
    return;
  if (attributes == nullptr) count = 0;
  CAttributes attrs{attributes, {}};
  as_span(span)->add_event(to_key(name), attrs, count, time_unix_ns);
}
void spanring_span_add_link(spanring_span* span, const spanring_span_context* linked, const spanring_attribute* attributes,
                            size_t count) {
  if (span == nullptr || linked == nullptr) [[unlikely]]
    return;
  if (attributes == nullptr) count = 0;
  CAttributes attrs{attributes, {}};
  as_span(span)->add_link(to_context(*linked), attrs, count);
}
void spanring_span_add_event(spanring_span* span, spanring_key name) {
  if (span == nullptr) [[unlikely]]
    return;
  as_span(span)->add_event(to_key(name));
}
void spanring_span_record_exception(spanring_span* span, const char* type, size_t type_length, const char* message,
                                    size_t message_length) {
  if (span == nullptr) [[unlikely]]
    return;
  as_span(span)->record_exception(std::string_view(type ? type : "", type ? type_length : 0),
                                  std::string_view(message ? message : "", message ? message_length : 0));
}
void spanring_span_record_exception_stacktrace(spanring_span* span, const char* type, size_t type_length,
                                               const char* message, size_t message_length, const char* stacktrace,
                                               size_t stacktrace_length) {
  if (span == nullptr) [[unlikely]]
    return;
  as_span(span)->record_exception(view(type, type_length), view(message, message_length),
                                  view(stacktrace, stacktrace_length));
}
void spanring_span_set_status(spanring_span* span, int status, const char* description, size_t length) {
  if (span == nullptr) [[unlikely]]
    return;
  const auto code = static_cast<spanring::StatusCode>(status >= spanring::shm::kStatusUnset && status <= spanring::shm::kStatusError ? status : 0);
  as_span(span)->set_status(code, std::string_view(description ? description : "", description ? length : 0));
}
void spanring_span_end(spanring_span* span) {
  if (span == nullptr) [[unlikely]]
    return;
  Span* s = as_span(span);
  s->end();
  s->~Span();
}
void spanring_span_traceparent(const spanring_span* span, char* out) {
  if (span == nullptr || out == nullptr) [[unlikely]]
    return;
  as_span(span)->traceparent(out);
}

size_t spanring_span_tracestate(const spanring_span* span, char* out, size_t out_size) {
  if (span == nullptr) [[unlikely]]
    return 0;
  const std::string_view ts = as_span(span)->trace_state();
  if (out != nullptr) std::memcpy(out, ts.data(), ts.size() < out_size ? ts.size() : out_size);
  return ts.size();
}
int spanring_span_get_context(const spanring_span* span, spanring_span_context* out) {
  if (out == nullptr) [[unlikely]]
    return 0;
  std::memset(out, 0, sizeof *out);
  if (span == nullptr || !as_span(span)->recording()) return 0;
  from_context(as_span(span)->context(), *out);
  return 1;
}
int spanring_span_ids(const spanring_span* span, uint8_t trace_id[16], uint8_t span_id[8], uint8_t* trace_flags) {
  if (span == nullptr || !as_span(span)->recording()) [[unlikely]]
    return 0;
  const Span* s = as_span(span);
  if (trace_id) std::memcpy(trace_id, s->trace_id().bytes, 16);
  if (span_id) std::memcpy(span_id, s->span_id().bytes, 8);
  if (trace_flags) *trace_flags = s->trace_flags();
  return 1;
}
int spanring_extract(const char* traceparent, size_t traceparent_length, const char* tracestate,
                     size_t tracestate_length, spanring_span_context* out) {
  if (out == nullptr) [[unlikely]]
    return 0;
  std::memset(out, 0, sizeof *out);
  spanring::SpanContext ctx;
  if (!spanring::extract(view(traceparent, traceparent_length), view(tracestate, tracestate_length), ctx)) return 0;
  from_context(ctx, *out);
  return 1;
}
void spanring_span_start_with_context(spanring_span* span, spanring_key name, int kind,
                                      const spanring_span_context* parent) {
  if (span == nullptr) [[unlikely]]
    return;
  const spanring::SpanKind k = to_kind(kind, spanring::SpanKind::kInternal);
  const spanring::Key key = to_key(name);
  if (parent) new (span->opaque) Span(key, to_context(*parent), k);
  else new (span->opaque) Span(key, Span::NewRoot{}, k);
}

void* spanring_scope_push(spanring_span* span) {
  void* previous = spanring::detail::t_current;
  // NULL changes nothing: the caller's pop(previous) then restores what is current now.
  if (span != nullptr) [[likely]]
    spanring::detail::t_current = as_span(span);
  return previous;
}
void spanring_scope_pop(void* previous) { spanring::detail::t_current = static_cast<Span*>(previous); }

int spanring_current_ids_hex(char* trace_id_hex, char* span_id_hex) {
  if (trace_id_hex == nullptr || span_id_hex == nullptr) [[unlikely]]
    return 0;
  return spanring::current_ids_hex(trace_id_hex, span_id_hex) ? 1 : 0;
}

}  // extern "C"

// The C API: thin adapters over tracer.hpp. No exception crosses this boundary, and no NULL
// pointer is dereferenced: engines reach this through FFI, where a NULL is one binding bug
// away. Each check is one predictable branch on an argument already in a register; the C++
// hot path (tracer.hpp) has no such branch because references cannot be null.
#include "spanring/spanring.h"

#include <new>

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

}  // namespace

extern "C" {

int spanring_init(const spanring_options* options, char* error, size_t error_size) {
  try {
    spanring::Options o;
    if (options) {
      if (options->service_name) o.service_name = options->service_name;
      o.shm_size = options->shm_size;
      o.rings = options->rings;
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

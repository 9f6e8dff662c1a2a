/* Drives every function of spanring.h from C11, the way a C engine would. The spans, in the
 * order they end (one ring, so that is their order in the segment):
 *   c.child           CLIENT, child of c.root through the scope, record_exception
 *   c.sibling         PRODUCER, explicit parent c.root
 *   c.root            SERVER, bool/int/double/string attributes, an event, status OK then ERROR
 *   c.remote          SERVER, remote parent with tracestate, status ERROR with description
 *   c.remote.invalid  SERVER, invalid traceparent: a new root
 *   c.inline          CONSUMER, name not interned
 * then, after spanring_shutdown, c.after.shutdown, which must not be written. */
#include "c_api_smoke.h"

#include <string.h>

static spanring_key key(const char* text) { return spanring_intern(text, strlen(text)); }

static void copy_hex(char* dst, const char* src, size_t n) {
  memcpy(dst, src, n);
  dst[n] = '\0';
}

void c_smoke_run(const char* service, uint64_t shm_size, struct c_smoke_result* out) {
  spanring_options options;
  char trace_hex[32];
  char span_hex[16];
  void* previous;
  spanring_span root;
  spanring_span child;
  spanring_span sibling;
  spanring_span remote;
  spanring_span invalid;
  spanring_span inline_named;
  spanring_span after;
  spanring_key root_name;

  memset(out, 0, sizeof *out);
  memset(&options, 0, sizeof options);
  options.service_name = service;
  options.shm_size = shm_size;
  options.rings = 1;
  options.access = SPANRING_ACCESS_OWNER;
  out->init_code = spanring_init(&options, out->init_error, sizeof out->init_error);
  out->enabled_after_init = spanring_enabled();

  root_name = key("c.root");
  out->root_name_ref = root_name.ref;
  out->ids_before_push = spanring_current_ids_hex(trace_hex, span_hex);

  spanring_span_start(&root, root_name, SPANRING_KIND_SERVER, NULL);
  spanring_span_set_bool(&root, key("c.flag"), 1);
  spanring_span_set_int(&root, key("c.count"), -42);
  spanring_span_set_int(&root, key("c.min"), INT64_MIN);
  spanring_span_set_double(&root, key("c.ratio"), 0.25);
  spanring_span_set_string(&root, key("c.label"), "h\xc3\xa9llo", 6);
  spanring_span_set_string(&root, spanring_key_inline("c.inline_key", 12), "v", 1);
  spanring_span_add_event(&root, key("c.event"));
  spanring_span_traceparent(&root, out->root_traceparent);

  previous = spanring_scope_push(&root);
  out->ids_in_scope = spanring_current_ids_hex(trace_hex, span_hex);
  copy_hex(out->scope_trace_hex, trace_hex, sizeof trace_hex);
  copy_hex(out->scope_span_hex, span_hex, sizeof span_hex);
  spanring_span_start(&child, key("c.child"), SPANRING_KIND_CLIENT, NULL);
  spanring_span_record_exception(&child, "TimeoutError", 12, "deadline exceeded", 17);
  spanring_span_traceparent(&child, out->child_traceparent);
  spanring_span_end(&child);
  spanring_scope_pop(previous);
  out->ids_after_pop = spanring_current_ids_hex(trace_hex, span_hex);

  spanring_span_start(&sibling, key("c.sibling"), SPANRING_KIND_PRODUCER, &root);
  spanring_span_end(&sibling);

  spanring_span_set_status(&root, SPANRING_STATUS_OK, "ignored", 7);
  spanring_span_set_status(&root, SPANRING_STATUS_ERROR, "too late", 8);
  spanring_span_end(&root);

  out->remote_valid_rc = spanring_span_start_remote(
      &remote, key("c.remote"), SPANRING_KIND_SERVER, C_SMOKE_REMOTE_TRACEPARENT, strlen(C_SMOKE_REMOTE_TRACEPARENT),
      C_SMOKE_REMOTE_TRACESTATE, strlen(C_SMOKE_REMOTE_TRACESTATE));
  spanring_span_set_status(&remote, SPANRING_STATUS_ERROR, "upstream failed", 15);
  spanring_span_traceparent(&remote, out->remote_traceparent);
  spanring_span_end(&remote);

  out->remote_invalid_rc = spanring_span_start_remote(
      &invalid, key("c.remote.invalid"), SPANRING_KIND_SERVER, C_SMOKE_INVALID_TRACEPARENT,
      strlen(C_SMOKE_INVALID_TRACEPARENT), C_SMOKE_REMOTE_TRACESTATE, strlen(C_SMOKE_REMOTE_TRACESTATE));
  spanring_span_traceparent(&invalid, out->invalid_remote_traceparent);
  spanring_span_end(&invalid);

  spanring_span_start(&inline_named, spanring_key_inline("c.inline", 8), SPANRING_KIND_CONSUMER, NULL);
  spanring_span_end(&inline_named);

  spanring_shutdown();
  out->enabled_after_shutdown = spanring_enabled();
  spanring_span_start(&after, key("c.after.shutdown"), SPANRING_KIND_INTERNAL, NULL);
  spanring_span_set_int(&after, key("c.count"), 1);
  spanring_span_end(&after);
}

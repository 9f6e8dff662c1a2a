/* See c_api_full.h. C11, as a C engine or an FFI binding would call it. */
#include "c_api_full.h"

#include <string.h>

static spanring_key key(const char* text) { return spanring_intern(text, strlen(text)); }

void c_full_run(const char* service, uint64_t shm_size, struct c_full_result* out) {
  spanring_options options;
  spanring_span server;
  spanring_span child;
  spanring_span_context linked;
  const uint8_t bools[] = {1, 0, 7};
  const int64_t ints[] = {-1, 0, INT64_MAX};
  const double doubles[] = {0.5, -2.25};
  const spanring_string reasons[] = {{"stop", 4}, {"length", 6}, {"", 0}};
  spanring_attribute event_attrs[3];
  spanring_attribute link_attr;

  memset(out, 0, sizeof *out);
  memset(&options, 0, sizeof options);
  options.service_name = service;
  options.shm_size = shm_size;
  options.rings = 1;
  options.access = SPANRING_ACCESS_OWNER;
  out->init_code = spanring_init(&options, out->init_error, sizeof out->init_error);

  spanring_span_start_remote(&server, key("c.full.server"), SPANRING_KIND_SERVER, C_FULL_TRACEPARENT,
                             strlen(C_FULL_TRACEPARENT), C_FULL_TRACESTATE, strlen(C_FULL_TRACESTATE));
  spanring_span_set_start_time(&server, C_FULL_START_NS);
  out->tracestate_length = spanring_span_tracestate(&server, out->tracestate, SPANRING_MAX_TRACESTATE_LENGTH);
  out->tracestate_short_length = spanring_span_tracestate(&server, out->tracestate_short, 4);

  spanring_span_set_bool_array(&server, key("c.bools"), bools, 3);
  spanring_span_set_int_array(&server, key("c.ints"), ints, 3);
  spanring_span_set_double_array(&server, spanring_key_inline("c.doubles", 9), doubles, 2);
  spanring_span_set_string_array(&server, key("gen_ai.response.finish_reasons"), reasons, 3);
  spanring_span_set_int_array(&server, key("c.empty"), NULL, 0);

  memset(event_attrs, 0, sizeof event_attrs);
  event_attrs[0].key = key("c.token");
  event_attrs[0].type = SPANRING_ATTR_INT;
  event_attrs[0].value.i = 17;
  event_attrs[1].key = key("c.text");
  event_attrs[1].type = SPANRING_ATTR_STRING;
  event_attrs[1].value.s.text = "hi";
  event_attrs[1].value.s.length = 2;
  event_attrs[2].key = key("c.list");
  event_attrs[2].type = SPANRING_ATTR_STRING_ARRAY;
  event_attrs[2].value.array.values = reasons;
  event_attrs[2].value.array.count = 2;
  spanring_span_add_event_with(&server, key("c.first_token"), event_attrs, 3, C_FULL_EVENT_NS);

  out->extract_rc = spanring_extract(C_FULL_TRACEPARENT, strlen(C_FULL_TRACEPARENT), "a=1", 3, &linked);
  memset(&link_attr, 0, sizeof link_attr);
  link_attr.key = key("c.batch.index");
  link_attr.type = SPANRING_ATTR_INT;
  link_attr.value.i = 3;
  spanring_span_add_link(&server, &linked, &link_attr, 1);

  spanring_span_record_exception_stacktrace(&server, "ValueError", 10, "bad token", 9, "at f()\nat g()", 13);
  out->context_rc = spanring_span_get_context(&server, &out->server_context);
  spanring_span_end_at(&server, C_FULL_END_NS);

  /* A child of a span that has ended: through its context. */
  spanring_span_start_with_context(&child, key("c.full.child"), SPANRING_KIND_INTERNAL, &out->server_context);
  spanring_span_end(&child);

  spanring_shutdown();
}

/* The C API smoke sequence (c_api_smoke.c, compiled as C11) and what it observed, for
 * c_api_test.cpp to compare with the segment it wrote. */
#ifndef SPANRING_TESTS_C_API_SMOKE_H
#define SPANRING_TESTS_C_API_SMOKE_H

#include <stdint.h>

#include "spanring/spanring.h"

#ifdef __cplusplus
extern "C" {
#endif

#define C_SMOKE_REMOTE_TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define C_SMOKE_REMOTE_TRACESTATE "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
#define C_SMOKE_INVALID_TRACEPARENT "00-00000000000000000000000000000000-00f067aa0ba902b7-01"

struct c_smoke_result {
  int init_code;
  char init_error[256];
  int enabled_after_init;
  int enabled_after_shutdown;
  uint16_t root_name_ref; /* spanring_key.ref of the interned "c.root" */
  int ids_before_push;    /* spanring_current_ids_hex results: 1 = ids written */
  int ids_in_scope;
  int ids_after_pop;
  char scope_trace_hex[33]; /* NUL-terminated copies of what current_ids_hex wrote */
  char scope_span_hex[17];
  char root_traceparent[SPANRING_TRACEPARENT_LENGTH + 1];
  char child_traceparent[SPANRING_TRACEPARENT_LENGTH + 1];
  char remote_traceparent[SPANRING_TRACEPARENT_LENGTH + 1];
  char invalid_remote_traceparent[SPANRING_TRACEPARENT_LENGTH + 1];
  int remote_valid_rc;
  int remote_invalid_rc;
};

/* Initialises the tracer through the C API (service name, segment size), writes the spans
 * described in c_api_smoke.c, shuts down, and starts one more span after shutdown. */
void c_smoke_run(const char* service, uint64_t shm_size, struct c_smoke_result* out);

#ifdef __cplusplus
}
#endif

#endif /* SPANRING_TESTS_C_API_SMOKE_H */

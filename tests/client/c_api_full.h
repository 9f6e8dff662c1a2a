/* The parts of spanring.h added for complete FFI bindings (arrays, explicit times, event
 * attributes, links, exceptions with stack traces, reading tracestate), driven from C11 by
 * c_api_full.c; c_api_full_test.cpp reads back the segment it wrote. */
#ifndef SPANRING_TESTS_C_API_FULL_H
#define SPANRING_TESTS_C_API_FULL_H

#include <stdint.h>

#include "spanring/spanring.h"

#ifdef __cplusplus
extern "C" {
#endif

#define C_FULL_TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define C_FULL_TRACESTATE "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
#define C_FULL_START_NS 1700000000123456789ull
#define C_FULL_EVENT_NS 1700000000200000000ull
#define C_FULL_END_NS 1700000000300000000ull

struct c_full_result {
  int init_code;
  char init_error[256];
  size_t tracestate_length;          /* spanring_span_tracestate's return */
  char tracestate[SPANRING_MAX_TRACESTATE_LENGTH + 1];  /* what it wrote, NUL added */
  size_t tracestate_short_length;    /* the same into a 4-byte buffer */
  char tracestate_short[5];
  int extract_rc;
  int context_rc;
  spanring_span_context server_context; /* of c.full.server */
};

/* Writes: c.full.server (remote parent with tracestate; arrays of each type; explicit start and
 * end; an event with attributes at an explicit time; a link with attributes; an exception with
 * a stack trace) and c.full.child (started from c.full.server's context after it ended). */
void c_full_run(const char* service, uint64_t shm_size, struct c_full_result* out);

#ifdef __cplusplus
}
#endif

#endif

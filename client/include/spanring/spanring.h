/* spanring C API — the same core as tracer.hpp, for engines in C, Zig, Rust, Python (ctypes).
 *
 *   spanring_options o = {0};  o.service_name = "llm-server";
 *   char err[256];
 *   if (spanring_init(&o, err, sizeof err) != 0) fprintf(stderr, "%s\n", err);  // keeps running
 *
 *   spanring_key k_hit = spanring_intern("cache.hit", 9);        // once, at start-up
 *   spanring_span s;                                             // caller-owned storage
 *   spanring_span_start(&s, spanring_intern("cache_lookup", 12), SPANRING_KIND_INTERNAL, NULL);
 *   spanring_span_set_bool(&s, k_hit, 1);
 *   spanring_span_end(&s);                                       // required: C has no RAII
 *
 * Every function is safe to call when spanring is not initialised (a no-op). No function
 * reports errors except spanring_init; nothing here allocates after the thread's first span.
 *
 * NULL: every pointer argument may be NULL. A NULL span (or output buffer) makes the call a
 * no-op that writes nothing; functions that return a result return 0. A NULL text with a
 * non-zero length is read as the empty string. The exceptions are stated at each function.
 *
 * Preconditions that remain (breaking one is undefined behaviour, as in any C API):
 *  - A spanring_span passed to any function other than spanring_span_start* must be either
 *    zeroed (memset 0, or `= {0}`: then every call on it is a no-op) or started by
 *    spanring_span_start*; uninitialised stack storage is not enough. After spanring_span_end
 *    the storage reads as not recording again, so a second end is a no-op.
 *  - A span belongs to one thread from start to end, and must not be copied or moved while
 *    live (started and not ended): the current-span scope refers to its address.
 *  - Starting into storage that holds a live span loses that span (it is never written).
 *  - Text pointers must point to at least `length` readable bytes; output buffers must hold
 *    the number of bytes each function states.
 *  - spanring_key values come from spanring_intern or spanring_key_inline (a made-up ref
 *    makes the span carry an unknown string id).
 *  - A span pushed as the current scope must stay live until the matching pop, and pushes and
 *    pops nest (stack order) on each thread.
 */
#ifndef SPANRING_SPANRING_H
#define SPANRING_SPANRING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The shared library exports exactly the functions marked so (hidden visibility elsewhere, and
 * client/libspanring.map lets only spanring_* out). */
#if defined(__GNUC__)
#define SPANRING_API __attribute__((visibility("default")))
#else
#define SPANRING_API
#endif

#define SPANRING_SPAN_SIZE 1088 /* bytes of opaque storage a span needs */
#define SPANRING_TRACEPARENT_LENGTH 55
#define SPANRING_MAX_TRACESTATE_LENGTH 512 /* W3C: the minimum a participant must propagate */
/* The shared library's soname major (libspanring.so.<major>): it changes when a function's
 * signature or a struct above changes incompatibly. */
#define SPANRING_API_MAJOR 2

#ifdef __cplusplus
#define SPANRING_ALIGN8 alignas(8)
#else
#define SPANRING_ALIGN8 _Alignas(8)
#endif

typedef struct spanring_span {
  SPANRING_ALIGN8 unsigned char opaque[SPANRING_SPAN_SIZE];
} spanring_span;

/* An interned name or key. `text` is owned by spanring (or by the caller for
 * spanring_key_inline) and must outlive the key. */
typedef struct spanring_key {
  const char* text;
  size_t length;
  uint16_t ref; /* 0x8000|id when interned, 0 when the text is copied into each span */
} spanring_key;

enum spanring_kind {
  SPANRING_KIND_INTERNAL = 1,
  SPANRING_KIND_SERVER = 2,
  SPANRING_KIND_CLIENT = 3,
  SPANRING_KIND_PRODUCER = 4,
  SPANRING_KIND_CONSUMER = 5
};

enum spanring_status { SPANRING_STATUS_UNSET = 0, SPANRING_STATUS_OK = 1, SPANRING_STATUS_ERROR = 2 };

/* Access to the segment: 0600, or 0660 (an agent in the engine's group drains it). As for every
 * setting, the API wins over the variable (tracer.hpp, above Options): 0 leaves it unset, so
 * SPANRING_SHM_MODE decides, then 0600. 0 was spelled SPANRING_ACCESS_OWNER before and always
 * behaved so; binaries built against that header keep their behaviour. Value 1 (a former
 * group-read mode) is retired: the agent must write the ring tails. */
enum spanring_access {
  SPANRING_ACCESS_DEFAULT = 0,
  SPANRING_ACCESS_GROUP_WRITE = 2,
  SPANRING_ACCESS_OWNER = 3 /* 0600 whatever SPANRING_SHM_MODE says */
};

/* Attribute value types (the values are the ABI's, abi.hpp AttrType). */
enum spanring_attr_type {
  SPANRING_ATTR_BOOL = 2,
  SPANRING_ATTR_INT = 3,
  SPANRING_ATTR_DOUBLE = 4,
  SPANRING_ATTR_STRING = 5,
  SPANRING_ATTR_BOOL_ARRAY = 10,  /* values: const uint8_t* (non-zero = true) */
  SPANRING_ATTR_INT_ARRAY = 11,   /* values: const int64_t* */
  SPANRING_ATTR_DOUBLE_ARRAY = 12,/* values: const double* */
  SPANRING_ATTR_STRING_ARRAY = 13 /* values: const spanring_string* */
};

typedef struct spanring_string {
  const char* text; /* NULL reads as "" */
  size_t length;
} spanring_string;

/* An attribute of an event or a link. Referenced only during the call that takes it. An
 * unknown type, or an array that does not fit the span, is dropped and counted. */
typedef struct spanring_attribute {
  spanring_key key;
  int type; /* enum spanring_attr_type */
  union {
    int b;
    int64_t i;
    double d;
    spanring_string s;
    struct {
      const void* values;
      size_t count;
    } array;
  } value;
} spanring_attribute;

/* What crosses a process boundary: ids, W3C flags, tracestate (validated, not NUL-terminated). */
typedef struct spanring_span_context {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t trace_flags;
  uint8_t is_remote; /* 1: extracted from headers; 0: a span of this process */
  uint16_t trace_state_length;
  char trace_state[SPANRING_MAX_TRACESTATE_LENGTH];
} spanring_span_context;

typedef struct spanring_options {
  const char* service_name; /* NULL: OTEL_SERVICE_NAME, then unknown_service:<exe> */
  uint64_t shm_size;        /* 0: SPANRING_SHM_SIZE, then 4 MiB */
  uint32_t rings;           /* 0: SPANRING_RINGS, then as many as fit */
  int access;               /* enum spanring_access; 0: SPANRING_SHM_MODE, then 0600 */
  /* Resource attributes (string values), merged over OTEL_RESOURCE_ATTRIBUTES (these win).
   * resource_count pairs; NULL arrays: none. Added with API 2; zeroed options leave them out. */
  const spanring_string* resource_keys;
  const spanring_string* resource_values;
  size_t resource_count;
} spanring_options;

/* Returns 0 on success, else a code of spanring::InitCode (see tracer.hpp) and a
 * NUL-terminated message in `error` (if error_size > 0). */
SPANRING_API int spanring_init(const spanring_options* options, char* error, size_t error_size);
SPANRING_API void spanring_shutdown(void);
SPANRING_API int spanring_enabled(void);

/* This process's tracer counters (spanring::counters()): spans written to the rings, and
 * dropped for a full ring / for want of a ring. NULL outputs are skipped. */
SPANRING_API void spanring_get_counters(uint64_t* spans_written, uint64_t* spans_dropped_full,
                                        uint64_t* spans_dropped_no_ring);

SPANRING_API spanring_key spanring_intern(const char* text, size_t length);
SPANRING_API spanring_key spanring_key_inline(const char* text, size_t length);

/* Starts a span in `span`'s storage (NULL: no-op). parent: an explicit parent, or NULL for this
 * thread's current span (see spanring_scope_push), or a new root trace when there is none. */
SPANRING_API void spanring_span_start(spanring_span* span, spanring_key name, int kind, const spanring_span* parent);
/* Starts a span whose parent came in W3C headers (lengths in bytes; NULL headers are absent).
 * Returns 1 when the traceparent was valid, 0 when a new root trace was started instead (or
 * nothing was started: `span` was NULL). */
SPANRING_API int spanring_span_start_remote(spanring_span* span, spanring_key name, int kind, const char* traceparent,
                               size_t traceparent_length, const char* tracestate, size_t tracestate_length);
SPANRING_API void spanring_span_set_bool(spanring_span* span, spanring_key key, int value);
SPANRING_API void spanring_span_set_int(spanring_span* span, spanring_key key, int64_t value);
SPANRING_API void spanring_span_set_double(spanring_span* span, spanring_key key, double value);
SPANRING_API void spanring_span_set_string(spanring_span* span, spanring_key key, const char* value, size_t length);
/* Array attributes (OTLP ArrayValue). Copied at once; all or nothing: an array that does not fit
 * the span is dropped whole and counted in the span's dropped attributes. NULL values with a
 * non-zero count: dropped and counted. */
SPANRING_API void spanring_span_set_bool_array(spanring_span* span, spanring_key key, const uint8_t* values, size_t count);
SPANRING_API void spanring_span_set_int_array(spanring_span* span, spanring_key key, const int64_t* values, size_t count);
SPANRING_API void spanring_span_set_double_array(spanring_span* span, spanring_key key, const double* values, size_t count);
SPANRING_API void spanring_span_set_string_array(spanring_span* span, spanring_key key, const spanring_string* values, size_t count);
/* Explicit times in Unix ns (CLOCK_REALTIME), for times the engine measured itself: the start
 * (call right after spanring_span_start*) and the end (instead of spanring_span_end; the span is
 * ended either way). The agent exports them as given. */
SPANRING_API void spanring_span_set_start_time(spanring_span* span, uint64_t unix_ns);
SPANRING_API void spanring_span_end_at(spanring_span* span, uint64_t unix_ns);
SPANRING_API void spanring_span_add_event(spanring_span* span, spanring_key name);
/* An event with attributes (NULL attributes: none) at time_unix_ns, or now when it is 0. At most
 * 255 attributes per event are kept; the rest are counted as dropped. */
SPANRING_API void spanring_span_add_event_with(spanring_span* span, spanring_key name, const spanring_attribute* attributes,
                                  size_t count, uint64_t time_unix_ns);
/* A link to another span (a context from spanring_span_get_context or spanring_extract). NULL
 * context: no-op. */
SPANRING_API void spanring_span_add_link(spanring_span* span, const spanring_span_context* linked, const spanring_attribute* attributes,
                            size_t count);
/* The `exception` event (exception.type, exception.message) and status ERROR. */
SPANRING_API void spanring_span_record_exception(spanring_span* span, const char* type, size_t type_length, const char* message,
                                    size_t message_length);
/* The same with exception.stacktrace, cut to the room the span has left. */
SPANRING_API void spanring_span_record_exception_stacktrace(spanring_span* span, const char* type, size_t type_length,
                                               const char* message, size_t message_length, const char* stacktrace,
                                               size_t stacktrace_length);
SPANRING_API void spanring_span_set_status(spanring_span* span, int status, const char* description, size_t length);
SPANRING_API void spanring_span_end(spanring_span* span);
/* Writes the span's traceparent (SPANRING_TRACEPARENT_LENGTH = 55 chars, no NUL) into out.
 * A span that is not recording gives all-zero ids (receivers treat them as invalid). */
SPANRING_API void spanring_span_traceparent(const spanring_span* span, char* out);
/* The span's W3C tracestate (inherited from its remote parent), which a service must forward with
 * the traceparent. Writes min(length, out_size) bytes (no NUL) and returns the full length, 0
 * when there is none or the span is not recording. */
SPANRING_API size_t spanring_span_tracestate(const spanring_span* span, char* out, size_t out_size);
/* The span's context (for links, or to hand to another thread). Returns 1, or 0 (and a zeroed
 * context) when the span is not recording. */
SPANRING_API int spanring_span_get_context(const spanring_span* span, spanring_span_context* out);
/* The span's ids in binary and its W3C trace flags (NULL outputs are skipped). Returns 1, or 0
 * (writing nothing) when the span is not recording. Cheaper than spanring_span_get_context. */
SPANRING_API int spanring_span_ids(const spanring_span* span, uint8_t trace_id[16], uint8_t span_id[8],
                                   uint8_t* trace_flags);
/* Parses W3C headers into `out` (NULL headers are absent). Returns 1 when the traceparent was
 * valid; 0 leaves `out` zeroed (an invalid tracestate alone is dropped, not a failure). */
SPANRING_API int spanring_extract(const char* traceparent, size_t traceparent_length, const char* tracestate,
                     size_t tracestate_length, spanring_span_context* out);
/* Starts a span whose parent is `parent` (from spanring_extract: a remote parent; from
 * spanring_span_get_context: a span of this process, which may have ended since). NULL or an
 * invalid context starts a new root trace. */
SPANRING_API void spanring_span_start_with_context(spanring_span* span, spanring_key name, int kind,
                                      const spanring_span_context* parent);

/* Makes `span` the thread's current span; returns the previous one (NULL: none), to pass to
 * pop. push(NULL) changes nothing and returns the current span, so the pop still matches.
 * pop(NULL) is not a no-op: it restores "no current span", which is what NULL from push means. */
SPANRING_API void* spanring_scope_push(spanring_span* span);
SPANRING_API void spanring_scope_pop(void* previous);

/* Log correlation: the current span's ids as hex (32 and 16 chars, no NUL). Returns 0 and
 * writes nothing if there is none or either buffer is NULL. */
SPANRING_API int spanring_current_ids_hex(char* trace_id_hex, char* span_id_hex);

#ifdef __cplusplus
}
#endif

#endif /* SPANRING_SPANRING_H */

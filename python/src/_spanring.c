/* spanring._spanring — the CPython extension under the `spanring` package, written against the
 * CPython C API directly over spanring's C API (libspanring.so, spanring.h).
 *
 * Why the raw C API and not pybind11: the span is the hot path (target ≤ 1 µs for a span with
 * three attributes used as a context manager), and a raw METH_FASTCALL function costs tens of
 * ns per call where pybind11's generic argument casting costs several times more
 * (python/README.md has the measurement). Everything per span stays in C: argument parsing,
 * key interning (a bounded dict cache), attribute conversion, the current span (a ContextVar,
 * so asyncio tasks and threads each see their own), start and end.
 *
 * Memory: a Span object embeds the C span storage; freed objects go to a small free list, so a
 * steady stream of spans allocates nothing that grows (tests/test_memory.py checks it with
 * tracemalloc). The GIL serialises every call here; the static scratch buffers below rely on it
 * (no Python code runs while they are in use).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "spanring/spanring.h"

/* ------------------------------------------------------------------------------------------ */
/* Module state (one interpreter; the GIL protects it). */

static PyObject* g_current;          /* contextvars.ContextVar holding the current Span (or None) */
static PyObject* g_key_cache;        /* dict: str -> int ref (0: sent inline) */
static PyObject* g_exception_info;   /* callable(exc) -> (type, message, stacktrace), from __init__.py */
static unsigned long g_generation;   /* bumped in a forked child: spans born before are not ours */
static PyObject* g_kwnames[6];       /* interned keyword names of span(), in its argument order */

/* Keys and names interned into the segment's string table (which holds 4096): the first ones
 * seen, up to this many. Later ones (a name built per request, say) are copied into each span
 * instead, so a process cannot fill the table or this cache with one-off strings. */
#define KEY_CACHE_MAX 1024

enum { STATE_NONE = 0, STATE_LIVE = 1, STATE_ENDED = 2 };

typedef struct {
  PyObject_HEAD
  spanring_span span;
  PyObject* token;                 /* ContextVar token while entered (the `with` block) */
  unsigned long generation;        /* g_generation at start */
  char state;
  char entered;                    /* was made current: children may look for it after it ended */
  char have_ids;                   /* ended_* are valid: a child can still find its parent */
  uint8_t ended_flags;
  uint8_t ended_trace_id[16];
  uint8_t ended_span_id[8];
} SpanObject;

typedef struct {
  PyObject_HEAD
  spanring_span_context ctx;
} ContextObject;

static PyTypeObject SpanType;
static PyTypeObject ContextType;

/* Free list of Span objects: a Span is ~1.7 KiB, past the allocator's small-object caches. */
#define FREE_LIST_MAX 64
static SpanObject* g_free_list[FREE_LIST_MAX];
static int g_free_count;

/* ------------------------------------------------------------------------------------------ */
/* Keys */

static int get_key(PyObject* text, spanring_key* out, const char* what) {
  if (!PyUnicode_Check(text)) {
    PyErr_Format(PyExc_TypeError, "spanring: %s must be a str, not %.100s", what, Py_TYPE(text)->tp_name);
    return -1;
  }
  Py_ssize_t n;
  const char* utf8 = PyUnicode_AsUTF8AndSize(text, &n);
  if (utf8 == NULL) return -1; /* UnicodeEncodeError (lone surrogates): a ValueError */
  out->text = utf8;
  out->length = (size_t)n;
  out->ref = 0;
  PyObject* ref = PyDict_GetItemWithError(g_key_cache, text); /* borrowed */
  if (ref != NULL) {
    out->ref = (uint16_t)PyLong_AsUnsignedLong(ref);
    return 0;
  }
  if (PyErr_Occurred()) return -1;
  if (PyDict_GET_SIZE(g_key_cache) >= KEY_CACHE_MAX || !PyUnicode_CheckExact(text)) return 0;
  const spanring_key k = spanring_intern(utf8, (size_t)n);
  PyObject* v = PyLong_FromUnsignedLong(k.ref);
  if (v == NULL) return -1;
  const int rc = PyDict_SetItem(g_key_cache, text, v);
  Py_DECREF(v);
  if (rc < 0) return -1;
  out->ref = k.ref;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Attribute values */

/* Elements an array can have and still fit a span (1 KiB): more are dropped (and counted) by
 * the encoder without being converted. */
#define MAX_BOOL_ELEMS 1024
#define MAX_NUM_ELEMS 128
#define MAX_STR_ELEMS 512

/* Scratch for array elements of one call: set_attribute uses it whole; events and links carve
 * it up between their attributes. */
#define SCRATCH_BYTES (64 * 1024)
static union {
  double align;
  unsigned char bytes[SCRATCH_BYTES];
} g_scratch;
static size_t g_scratch_used;

static void* scratch_take(size_t bytes) {
  bytes = (bytes + 7u) & ~(size_t)7u;
  if (bytes > SCRATCH_BYTES - g_scratch_used) return NULL;
  void* p = g_scratch.bytes + g_scratch_used;
  g_scratch_used += bytes;
  return p;
}

static int value_error_int(PyObject* key) {
  PyErr_Format(PyExc_ValueError, "spanring: attribute %R: int out of the 64-bit signed range", key);
  return -1;
}

/* The element type of a list element: SPANRING_ATTR_BOOL/INT/DOUBLE/STRING, or 0. */
static int scalar_type(PyObject* v) {
  if (PyBool_Check(v)) return SPANRING_ATTR_BOOL;
  if (PyLong_Check(v)) return SPANRING_ATTR_INT;
  if (PyFloat_Check(v)) return SPANRING_ATTR_DOUBLE;
  if (PyUnicode_Check(v)) return SPANRING_ATTR_STRING;
  return 0;
}

/* Converts a list or tuple into an array attribute (elements in the scratch). An array too long
 * to fit any span gets NULL values with its count: the encoder drops it and counts it. */
static int convert_array(PyObject* key, PyObject* seq, spanring_attribute* a) {
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  PyObject** items = PySequence_Fast_ITEMS(seq);
  int type = n > 0 ? scalar_type(items[0]) : SPANRING_ATTR_STRING; /* [] : an empty string array */
  if (type == 0) {
    PyErr_Format(PyExc_TypeError,
                 "spanring: attribute %R: list elements must be str, bool, int or float, not %.100s", key,
                 Py_TYPE(items[0])->tp_name);
    return -1;
  }
  for (Py_ssize_t k = 1; k < n; ++k)
    if (scalar_type(items[k]) != type) {
      PyErr_Format(PyExc_TypeError,
                   "spanring: attribute %R: list elements must all have one type (element %zd is %.100s, "
                   "element 0 is %.100s)",
                   key, k, Py_TYPE(items[k])->tp_name, Py_TYPE(items[0])->tp_name);
      return -1;
    }
  a->value.array.count = (size_t)n;
  a->value.array.values = NULL;
  switch (type) {
    case SPANRING_ATTR_BOOL: {
      a->type = SPANRING_ATTR_BOOL_ARRAY;
      if (n > MAX_BOOL_ELEMS) return 0;
      uint8_t* v = scratch_take((size_t)n);
      if (v == NULL) return 0;
      for (Py_ssize_t k = 0; k < n; ++k) v[k] = items[k] == Py_True;
      a->value.array.values = v;
      return 0;
    }
    case SPANRING_ATTR_INT: {
      a->type = SPANRING_ATTR_INT_ARRAY;
      if (n > MAX_NUM_ELEMS) return 0;
      int64_t* v = scratch_take((size_t)n * 8);
      if (v == NULL) return 0;
      for (Py_ssize_t k = 0; k < n; ++k) {
        int overflow = 0;
        v[k] = PyLong_AsLongLongAndOverflow(items[k], &overflow);
        if (overflow) return value_error_int(key);
        if (v[k] == -1 && PyErr_Occurred()) return -1;
      }
      a->value.array.values = v;
      return 0;
    }
    case SPANRING_ATTR_DOUBLE: {
      a->type = SPANRING_ATTR_DOUBLE_ARRAY;
      if (n > MAX_NUM_ELEMS) return 0;
      double* v = scratch_take((size_t)n * 8);
      if (v == NULL) return 0;
      for (Py_ssize_t k = 0; k < n; ++k) v[k] = PyFloat_AS_DOUBLE(items[k]);
      a->value.array.values = v;
      return 0;
    }
    default: {
      a->type = SPANRING_ATTR_STRING_ARRAY;
      if (n > MAX_STR_ELEMS) return 0;
      spanring_string* v = scratch_take((size_t)n * sizeof(spanring_string));
      if (v == NULL) return 0;
      for (Py_ssize_t k = 0; k < n; ++k) {
        Py_ssize_t len;
        v[k].text = PyUnicode_AsUTF8AndSize(items[k], &len);
        if (v[k].text == NULL) return -1;
        v[k].length = (size_t)len;
      }
      a->value.array.values = v;
      return 0;
    }
  }
}

/* key/value → a spanring_attribute (strings and arrays point into Python objects and the
 * scratch: valid until the caller's next Python call). Raises TypeError/ValueError for what
 * cannot be an OpenTelemetry attribute. */
static int convert_attribute(PyObject* key, PyObject* value, spanring_attribute* a, PyObject** seq_out) {
  *seq_out = NULL;
  if (get_key(key, &a->key, "attribute key") < 0) return -1;
  if (PyBool_Check(value)) {
    a->type = SPANRING_ATTR_BOOL;
    a->value.b = value == Py_True;
  } else if (PyLong_Check(value)) {
    int overflow = 0;
    a->type = SPANRING_ATTR_INT;
    a->value.i = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow) return value_error_int(key);
    if (a->value.i == -1 && PyErr_Occurred()) return -1;
  } else if (PyFloat_Check(value)) {
    a->type = SPANRING_ATTR_DOUBLE;
    a->value.d = PyFloat_AS_DOUBLE(value);
  } else if (PyUnicode_Check(value)) {
    Py_ssize_t n;
    a->type = SPANRING_ATTR_STRING;
    a->value.s.text = PyUnicode_AsUTF8AndSize(value, &n);
    if (a->value.s.text == NULL) return -1;
    a->value.s.length = (size_t)n;
  } else if (PyList_Check(value) || PyTuple_Check(value)) {
    PyObject* seq = PySequence_Fast(value, "");
    if (seq == NULL) return -1;
    *seq_out = seq; /* the caller keeps it alive while the element pointers are used */
    return convert_array(key, seq, a);
  } else {
    PyErr_Format(PyExc_TypeError,
                 "spanring: attribute %R: value must be str, bool, int, float or a list of one of them, not %.100s",
                 key, Py_TYPE(value)->tp_name);
    return -1;
  }
  return 0;
}

static void apply_attribute(spanring_span* span, const spanring_attribute* a) {
  switch (a->type) {
    case SPANRING_ATTR_BOOL: spanring_span_set_bool(span, a->key, a->value.b); break;
    case SPANRING_ATTR_INT: spanring_span_set_int(span, a->key, a->value.i); break;
    case SPANRING_ATTR_DOUBLE: spanring_span_set_double(span, a->key, a->value.d); break;
    case SPANRING_ATTR_STRING: spanring_span_set_string(span, a->key, a->value.s.text, a->value.s.length); break;
    case SPANRING_ATTR_BOOL_ARRAY:
      spanring_span_set_bool_array(span, a->key, a->value.array.values, a->value.array.count);
      break;
    case SPANRING_ATTR_INT_ARRAY:
      spanring_span_set_int_array(span, a->key, a->value.array.values, a->value.array.count);
      break;
    case SPANRING_ATTR_DOUBLE_ARRAY:
      spanring_span_set_double_array(span, a->key, a->value.array.values, a->value.array.count);
      break;
    default:
      spanring_span_set_string_array(span, a->key, a->value.array.values, a->value.array.count);
      break;
  }
}

static int set_one(SpanObject* s, PyObject* key, PyObject* value) {
  spanring_attribute a;
  PyObject* seq;
  g_scratch_used = 0;
  const int rc = convert_attribute(key, value, &a, &seq);
  if (rc == 0 && s->state == STATE_LIVE) apply_attribute(&s->span, &a);
  Py_XDECREF(seq);
  return rc;
}

static int set_many(SpanObject* s, PyObject* attributes) {
  if (attributes == NULL || attributes == Py_None) return 0;
  if (PyDict_Check(attributes)) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(attributes, &pos, &k, &v))
      if (set_one(s, k, v) < 0) return -1;
    return 0;
  }
  PyObject* items = PyMapping_Items(attributes);
  if (items == NULL) {
    PyErr_Format(PyExc_TypeError, "spanring: attributes must be a mapping (dict), not %.100s",
                 Py_TYPE(attributes)->tp_name);
    return -1;
  }
  int rc = 0;
  for (Py_ssize_t k = 0; k < PyList_GET_SIZE(items) && rc == 0; ++k) {
    PyObject* kv = PyList_GET_ITEM(items, k);
    rc = set_one(s, PyTuple_GET_ITEM(kv, 0), PyTuple_GET_ITEM(kv, 1));
  }
  Py_DECREF(items);
  return rc;
}

/* The attributes of an event or a link, converted into *out (a static array, or a PyMem one
 * for more than fit it: the library keeps 255 per event or link and counts the rest as
 * dropped). `keep` holds what the converted pointers point into. Returns the count, or -1. */
#define STATIC_SUB_ATTRS 256
static spanring_attribute g_sub_attrs[STATIC_SUB_ATTRS];

static Py_ssize_t convert_sub_attributes(PyObject* attributes, PyObject* keep, spanring_attribute** out) {
  g_scratch_used = 0;
  *out = g_sub_attrs;
  if (attributes == NULL || attributes == Py_None) return 0;
  PyObject* items = PyDict_Check(attributes) ? PyDict_Items(attributes) : PyMapping_Items(attributes);
  if (items == NULL) {
    PyErr_Format(PyExc_TypeError, "spanring: attributes must be a mapping (dict), not %.100s",
                 Py_TYPE(attributes)->tp_name);
    return -1;
  }
  const int kept = PyList_Append(keep, items);
  Py_DECREF(items);
  if (kept < 0) return -1;
  const Py_ssize_t n = PyList_GET_SIZE(items);
  if (n > STATIC_SUB_ATTRS) {
    *out = PyMem_Malloc((size_t)n * sizeof(spanring_attribute));
    if (*out == NULL) {
      PyErr_NoMemory();
      return -1;
    }
  }
  for (Py_ssize_t k = 0; k < n; ++k) {
    PyObject* kv = PyList_GET_ITEM(items, k);
    PyObject* seq;
    if (convert_attribute(PyTuple_GET_ITEM(kv, 0), PyTuple_GET_ITEM(kv, 1), &(*out)[k], &seq) < 0) return -1;
    if (seq != NULL) {
      const int rc = PyList_Append(keep, seq);
      Py_DECREF(seq);
      if (rc < 0) return -1;
    }
  }
  return n;
}

static void free_sub_attributes(spanring_attribute* attrs) {
  if (attrs != g_sub_attrs) PyMem_Free(attrs);
}

static int get_time(PyObject* v, uint64_t* out, const char* what) {
  if (!PyLong_Check(v) || PyBool_Check(v)) {
    PyErr_Format(PyExc_TypeError, "spanring: %s must be an int (Unix ns, as time.time_ns()), not %.100s", what,
                 Py_TYPE(v)->tp_name);
    return -1;
  }
  const unsigned long long t = PyLong_AsUnsignedLongLong(v);
  if (t == (unsigned long long)-1 && PyErr_Occurred()) {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "spanring: %s must be a non-negative Unix time in ns, got %R", what, v);
    return -1;
  }
  if (t == 0 || t >= (1ull << 63)) {
    PyErr_Format(PyExc_ValueError, "spanring: %s must be a Unix time in ns between 1 and 2^63-1, got %R", what, v);
    return -1;
  }
  *out = t;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* SpanContext */

static PyObject* context_new(const spanring_span_context* ctx) {
  ContextObject* c = PyObject_New(ContextObject, &ContextType);
  if (c == NULL) return NULL;
  memcpy(&c->ctx, ctx, sizeof *ctx);
  return (PyObject*)c;
}

static void context_dealloc(PyObject* self) { PyObject_Free(self); }

static PyObject* hex_of(const uint8_t* p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  char out[32];
  for (size_t k = 0; k < n; ++k) {
    out[2 * k] = digits[p[k] >> 4];
    out[2 * k + 1] = digits[p[k] & 15];
  }
  return PyUnicode_FromStringAndSize(out, (Py_ssize_t)(2 * n));
}

static PyObject* context_trace_id(PyObject* self, void* c) {
  (void)c;
  return hex_of(((ContextObject*)self)->ctx.trace_id, 16);
}
static PyObject* context_span_id(PyObject* self, void* c) {
  (void)c;
  return hex_of(((ContextObject*)self)->ctx.span_id, 8);
}
static PyObject* context_trace_flags(PyObject* self, void* c) {
  (void)c;
  return PyLong_FromLong(((ContextObject*)self)->ctx.trace_flags);
}
static PyObject* context_is_remote(PyObject* self, void* c) {
  (void)c;
  return PyBool_FromLong(((ContextObject*)self)->ctx.is_remote);
}
static PyObject* context_trace_state(PyObject* self, void* c) {
  (void)c;
  const spanring_span_context* x = &((ContextObject*)self)->ctx;
  return PyUnicode_DecodeUTF8(x->trace_state, x->trace_state_length, "replace");
}
static PyObject* context_repr(PyObject* self) {
  const spanring_span_context* x = &((ContextObject*)self)->ctx;
  PyObject* t = hex_of(x->trace_id, 16);
  PyObject* s = hex_of(x->span_id, 8);
  PyObject* r = (t && s) ? PyUnicode_FromFormat("SpanContext(trace_id=%U, span_id=%U, trace_flags=%d, is_remote=%s)", t, s,
                                                x->trace_flags, x->is_remote ? "True" : "False")
                         : NULL;
  Py_XDECREF(t);
  Py_XDECREF(s);
  return r;
}

static PyGetSetDef context_getset[] = {
    {"trace_id", context_trace_id, NULL, "Trace id, 32 lowercase hex digits.", NULL},
    {"span_id", context_span_id, NULL, "Span id, 16 lowercase hex digits.", NULL},
    {"trace_flags", context_trace_flags, NULL, "W3C trace flags (bit 0: sampled).", NULL},
    {"is_remote", context_is_remote, NULL, "True when extracted from headers.", NULL},
    {"trace_state", context_trace_state, NULL, "W3C tracestate ('' when none).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ContextType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "spanring.SpanContext",
    .tp_basicsize = sizeof(ContextObject),
    .tp_dealloc = context_dealloc,
    .tp_repr = context_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The identity of a span as it crosses a process boundary (from extract() or Span.context).",
    .tp_getset = context_getset,
};

/* ------------------------------------------------------------------------------------------ */
/* Span */

static SpanObject* span_alloc(void) {
  SpanObject* s;
  if (g_free_count > 0) {
    s = g_free_list[--g_free_count];
    (void)PyObject_Init((PyObject*)s, &SpanType);
  } else {
    s = PyObject_New(SpanObject, &SpanType);
    if (s == NULL) return NULL;
  }
  s->token = NULL;
  s->state = STATE_NONE;
  s->entered = 0;
  s->have_ids = 0;
  s->generation = g_generation;
  return s;
}

static void span_dealloc(PyObject* self) {
  SpanObject* s = (SpanObject*)self;
  /* A span dropped without end() is never written (OpenTelemetry: only ended spans export). */
  Py_CLEAR(s->token);
  if (g_free_count < FREE_LIST_MAX) g_free_list[g_free_count++] = s;
  else PyObject_Free(self);
}

static void ended_context(const SpanObject* p, spanring_span_context* c) {
  c->trace_flags = p->ended_flags;
  c->is_remote = 0;
  c->trace_state_length = 0;
  memcpy(c->trace_id, p->ended_trace_id, 16);
  memcpy(c->span_id, p->ended_span_id, 8);
}

/* Starts `s` as a child of `parent`: a Span, a SpanContext, None (a new root), or NULL (the
 * current span of this context, else the thread's C scope, else a new root). */
static int start_span(SpanObject* s, const spanring_key* name, int kind, PyObject* parent) {
  PyObject* current = NULL;
  if (parent == NULL) {
    if (PyContextVar_Get(g_current, Py_None, &current) < 0) return -1;
    parent = current;
  }
  if (Py_IS_TYPE(parent, &SpanType)) {
    SpanObject* p = (SpanObject*)parent;
    if (p->state == STATE_LIVE) {
      spanring_span_start(&s->span, *name, kind, &p->span);
    } else if (p->have_ids) {
      spanring_span_context c;
      ended_context(p, &c);
      spanring_span_start_with_context(&s->span, *name, kind, &c);
    } else {
      spanring_span_start_with_context(&s->span, *name, kind, NULL);
    }
  } else if (Py_IS_TYPE(parent, &ContextType)) {
    spanring_span_start_with_context(&s->span, *name, kind, &((ContextObject*)parent)->ctx);
  } else if (parent == Py_None) {
    if (current != NULL) spanring_span_start(&s->span, *name, kind, NULL); /* C scope or root */
    else spanring_span_start_with_context(&s->span, *name, kind, NULL);    /* parent=None: root */
  } else {
    PyErr_Format(PyExc_TypeError, "spanring: parent must be a Span, a SpanContext or None, not %.100s",
                 Py_TYPE(parent)->tp_name);
    Py_XDECREF(current);
    return -1;
  }
  Py_XDECREF(current);
  s->state = STATE_LIVE;
  return 0;
}

static void span_finish(SpanObject* s, int explicit_end, uint64_t end_ns) {
  if (s->state != STATE_LIVE) return;
  s->state = STATE_ENDED;
  if (s->generation != g_generation) return; /* started before fork(): the parent writes it */
  /* A span that was current may be a parent after it ends (a task it spawned goes on): keep its
   * ids. (The tracestate is not kept: such late children do not forward it.) */
  if (s->entered) s->have_ids = (char)spanring_span_ids(&s->span, s->ended_trace_id, s->ended_span_id, &s->ended_flags);
  if (explicit_end) spanring_span_end_at(&s->span, end_ns);
  else spanring_span_end(&s->span);
}

/* span(name, kind=INTERNAL, attributes=None, start_time_ns=None, parent=<current>, links=None) */
static PyObject* py_span(PyObject* module, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  (void)module;
  PyObject *name = NULL, *kind = NULL, *attributes = NULL, *start = NULL, *parent = NULL, *links = NULL;
  PyObject** slots[] = {&name, &kind, &attributes, &start, &parent, &links};
  static const char* const names[] = {"name", "kind", "attributes", "start_time_ns", "parent", "links"};
  if (nargs > 6) {
    PyErr_SetString(PyExc_TypeError, "spanring.span() takes at most 6 arguments");
    return NULL;
  }
  for (Py_ssize_t k = 0; k < nargs; ++k) *slots[k] = args[k];
  if (kwnames != NULL) {
    const Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nk; ++k) {
      PyObject* kw = PyTuple_GET_ITEM(kwnames, k);
      int found = 0;
      /* Keyword names in call sites are interned: compare pointers first, text only if none matches. */
      int j = 0;
      while (j < 6 && kw != g_kwnames[j]) ++j;
      if (j == 6)
        for (j = 0; j < 6 && PyUnicode_CompareWithASCIIString(kw, names[j]) != 0;) ++j;
      if (j < 6) {
        if (*slots[j] != NULL) {
          PyErr_Format(PyExc_TypeError, "spanring.span() got multiple values for argument '%s'", names[j]);
          return NULL;
        }
        *slots[j] = args[nargs + k];
        found = 1;
      }
      if (!found) {
        PyErr_Format(PyExc_TypeError, "spanring.span() got an unexpected keyword argument '%U'", kw);
        return NULL;
      }
    }
  }
  if (name == NULL) {
    PyErr_SetString(PyExc_TypeError, "spanring.span() missing required argument 'name'");
    return NULL;
  }
  spanring_key key;
  if (get_key(name, &key, "span name") < 0) return NULL;
  long k = SPANRING_KIND_INTERNAL;
  if (kind != NULL && kind != Py_None) {
    k = PyLong_AsLong(kind);
    if (k == -1 && PyErr_Occurred()) return NULL;
    if (k < SPANRING_KIND_INTERNAL || k > SPANRING_KIND_CONSUMER) {
      PyErr_Format(PyExc_ValueError, "spanring: kind must be a SpanKind (1..5), got %R", kind);
      return NULL;
    }
  }
  uint64_t start_ns = 0;
  if (start != NULL && start != Py_None && get_time(start, &start_ns, "start_time_ns") < 0) return NULL;
  SpanObject* s = span_alloc();
  if (s == NULL) return NULL;
  if (start_span(s, &key, (int)k, parent) < 0) goto fail;
  if (start_ns != 0) spanring_span_set_start_time(&s->span, start_ns);
  if (set_many(s, attributes) < 0) goto fail;
  if (links != NULL && links != Py_None) {
    PyObject* it = PyObject_GetIter(links);
    if (it == NULL) goto fail;
    PyObject* item;
    while ((item = PyIter_Next(it)) != NULL) {
      PyObject* r = PyObject_CallMethod((PyObject*)s, "add_link", "O", item);
      Py_DECREF(item);
      if (r == NULL) {
        Py_DECREF(it);
        goto fail;
      }
      Py_DECREF(r);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) goto fail;
  }
  return (PyObject*)s;
fail:
  s->state = STATE_NONE; /* never ended, so never written */
  Py_DECREF(s);
  return NULL;
}

static PyObject* span_set_attribute(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "set_attribute(key, value) takes 2 arguments");
    return NULL;
  }
  if (set_one((SpanObject*)self, args[0], args[1]) < 0) return NULL;
  Py_RETURN_NONE;
}

static PyObject* span_set_attributes(PyObject* self, PyObject* attributes) {
  if (set_many((SpanObject*)self, attributes) < 0) return NULL;
  Py_RETURN_NONE;
}

static PyObject* span_add_event(PyObject* self, PyObject* args, PyObject* kwargs) {
  static char* kwlist[] = {"name", "attributes", "time_ns", NULL};
  PyObject *name, *attributes = NULL, *time = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OO:add_event", kwlist, &name, &attributes, &time)) return NULL;
  SpanObject* s = (SpanObject*)self;
  spanring_key key;
  uint64_t t = 0;
  if (get_key(name, &key, "event name") < 0) return NULL;
  if (time != NULL && time != Py_None && get_time(time, &t, "time_ns") < 0) return NULL;
  PyObject* keep = PyList_New(0);
  if (keep == NULL) return NULL;
  spanring_attribute* attrs;
  const Py_ssize_t n = convert_sub_attributes(attributes, keep, &attrs);
  if (n >= 0 && s->state == STATE_LIVE) spanring_span_add_event_with(&s->span, key, attrs, (size_t)n, t);
  free_sub_attributes(attrs);
  Py_DECREF(keep);
  if (n < 0) return NULL;
  Py_RETURN_NONE;
}

static int context_of(PyObject* o, spanring_span_context* out) {
  if (Py_IS_TYPE(o, &ContextType)) {
    memcpy(out, &((ContextObject*)o)->ctx, sizeof *out);
    return 0;
  }
  if (Py_IS_TYPE(o, &SpanType)) {
    SpanObject* p = (SpanObject*)o;
    if (p->state == STATE_LIVE) spanring_span_get_context(&p->span, out);
    else if (p->have_ids) ended_context(p, out);
    else memset(out, 0, sizeof *out);
    return 0;
  }
  PyErr_Format(PyExc_TypeError, "spanring: a link needs a Span or a SpanContext, not %.100s", Py_TYPE(o)->tp_name);
  return -1;
}

static PyObject* span_add_link(PyObject* self, PyObject* args, PyObject* kwargs) {
  static char* kwlist[] = {"context", "attributes", NULL};
  PyObject *ctx, *attributes = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:add_link", kwlist, &ctx, &attributes)) return NULL;
  SpanObject* s = (SpanObject*)self;
  spanring_span_context c;
  if (context_of(ctx, &c) < 0) return NULL;
  PyObject* keep = PyList_New(0);
  if (keep == NULL) return NULL;
  spanring_attribute* attrs;
  const Py_ssize_t n = convert_sub_attributes(attributes, keep, &attrs);
  if (n >= 0 && s->state == STATE_LIVE) spanring_span_add_link(&s->span, &c, attrs, (size_t)n);
  free_sub_attributes(attrs);
  Py_DECREF(keep);
  if (n < 0) return NULL;
  Py_RETURN_NONE;
}

static PyObject* span_set_status(PyObject* self, PyObject* args, PyObject* kwargs) {
  static char* kwlist[] = {"status", "description", NULL};
  PyObject *status, *description = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:set_status", kwlist, &status, &description)) return NULL;
  const long code = PyLong_AsLong(status);
  if (code == -1 && PyErr_Occurred()) return NULL;
  if (code < SPANRING_STATUS_UNSET || code > SPANRING_STATUS_ERROR) {
    PyErr_Format(PyExc_ValueError, "spanring: status must be a StatusCode (0..2), got %R", status);
    return NULL;
  }
  const char* text = NULL;
  Py_ssize_t n = 0;
  if (description != Py_None) {
    if (!PyUnicode_Check(description)) {
      PyErr_Format(PyExc_TypeError, "spanring: description must be a str, not %.100s", Py_TYPE(description)->tp_name);
      return NULL;
    }
    text = PyUnicode_AsUTF8AndSize(description, &n);
    if (text == NULL) return NULL;
  }
  SpanObject* s = (SpanObject*)self;
  if (s->state == STATE_LIVE) spanring_span_set_status(&s->span, (int)code, text, (size_t)n);
  Py_RETURN_NONE;
}

static int record_exception(SpanObject* s, PyObject* exc) {
  if (s->state != STATE_LIVE) return 0;
  if (g_exception_info == NULL) return 0;
  PyObject* info = PyObject_CallOneArg(g_exception_info, exc);
  if (info == NULL) return -1;
  if (!PyTuple_Check(info) || PyTuple_GET_SIZE(info) != 3) {
    Py_DECREF(info);
    PyErr_SetString(PyExc_TypeError, "spanring: exception formatter must return (type, message, stacktrace)");
    return -1;
  }
  Py_ssize_t n[3];
  const char* t[3];
  for (int k = 0; k < 3; ++k) {
    t[k] = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(info, k), &n[k]);
    if (t[k] == NULL) {
      Py_DECREF(info);
      return -1;
    }
  }
  spanring_span_record_exception_stacktrace(&s->span, t[0], (size_t)n[0], t[1], (size_t)n[1], t[2], (size_t)n[2]);
  Py_DECREF(info);
  return 0;
}

static PyObject* span_record_exception(PyObject* self, PyObject* exc) {
  if (!PyExceptionInstance_Check(exc)) {
    PyErr_Format(PyExc_TypeError, "spanring: record_exception needs an exception, not %.100s", Py_TYPE(exc)->tp_name);
    return NULL;
  }
  if (record_exception((SpanObject*)self, exc) < 0) return NULL;
  Py_RETURN_NONE;
}

static PyObject* span_end(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* end = NULL;
  if (nargs > 1 || (kwnames != NULL && (PyTuple_GET_SIZE(kwnames) != 1 || nargs != 0 ||
                                        PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "end_time_ns") != 0))) {
    PyErr_SetString(PyExc_TypeError, "end(end_time_ns=None)");
    return NULL;
  }
  if (nargs == 1 || kwnames != NULL) end = args[0];
  uint64_t t = 0;
  if (end != NULL && end != Py_None && get_time(end, &t, "end_time_ns") < 0) return NULL;
  span_finish((SpanObject*)self, t != 0, t);
  Py_RETURN_NONE;
}

static PyObject* span_enter(PyObject* self, PyObject* unused) {
  (void)unused;
  SpanObject* s = (SpanObject*)self;
  if (s->token != NULL) {
    PyErr_SetString(PyExc_RuntimeError, "spanring: this span is already entered");
    return NULL;
  }
  s->token = PyContextVar_Set(g_current, self);
  if (s->token == NULL) return NULL;
  s->entered = 1;
  Py_INCREF(self);
  return self;
}

static PyObject* span_exit(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  SpanObject* s = (SpanObject*)self;
  if (s->token != NULL) {
    PyObject* token = s->token;
    s->token = NULL;
    const int rc = PyContextVar_Reset(g_current, token);
    Py_DECREF(token);
    /* A token from another context (the span was entered in one task and left in another):
     * the span still ends; the error is not worth masking the block's own exception. */
    if (rc < 0) PyErr_Clear();
  }
  if (nargs >= 2 && args[1] != Py_None && s->state == STATE_LIVE) {
    if (record_exception(s, args[1]) < 0) PyErr_Clear(); /* never replace the user's exception */
  }
  span_finish(s, 0, 0);
  Py_RETURN_FALSE;
}

static PyObject* span_is_recording(PyObject* self, PyObject* unused) {
  (void)unused;
  SpanObject* s = (SpanObject*)self;
  spanring_span_context c;
  return PyBool_FromLong(s->state == STATE_LIVE && spanring_span_get_context(&s->span, &c));
}

static PyObject* span_get_context(PyObject* self, void* closure) {
  (void)closure;
  spanring_span_context c;
  if (context_of(self, &c) < 0) return NULL;
  return context_new(&c);
}

static PyObject* span_trace_id(PyObject* self, void* closure) {
  (void)closure;
  spanring_span_context c;
  context_of(self, &c);
  return hex_of(c.trace_id, 16);
}

static PyObject* span_span_id(PyObject* self, void* closure) {
  (void)closure;
  spanring_span_context c;
  context_of(self, &c);
  return hex_of(c.span_id, 8);
}

static PyObject* span_traceparent(PyObject* self, void* closure) {
  (void)closure;
  SpanObject* s = (SpanObject*)self;
  char out[SPANRING_TRACEPARENT_LENGTH];
  spanring_span zero;
  if (s->state != STATE_LIVE) memset(&zero, 0, sizeof zero); /* not recording: all-zero ids */
  spanring_span_traceparent(s->state == STATE_LIVE ? &s->span : &zero, out);
  return PyUnicode_FromStringAndSize(out, SPANRING_TRACEPARENT_LENGTH);
}

static PyObject* span_tracestate(PyObject* self, void* closure) {
  (void)closure;
  SpanObject* s = (SpanObject*)self;
  char out[SPANRING_MAX_TRACESTATE_LENGTH];
  size_t n = s->state == STATE_LIVE ? spanring_span_tracestate(&s->span, out, sizeof out) : 0;
  if (n > sizeof out) n = sizeof out;
  return PyUnicode_DecodeUTF8(out, (Py_ssize_t)n, "replace");
}

static PyMethodDef span_methods[] = {
    {"set_attribute", (PyCFunction)(void (*)(void))span_set_attribute, METH_FASTCALL,
     "set_attribute(key, value): str, bool, int, float, or a list of one of them."},
    {"set_attributes", span_set_attributes, METH_O, "set_attributes(mapping): set_attribute for each item."},
    {"add_event", (PyCFunction)(void (*)(void))span_add_event, METH_VARARGS | METH_KEYWORDS,
     "add_event(name, attributes=None, time_ns=None): an event now, or at time_ns (Unix ns)."},
    {"add_link", (PyCFunction)(void (*)(void))span_add_link, METH_VARARGS | METH_KEYWORDS,
     "add_link(context, attributes=None): a link to a Span or SpanContext."},
    {"set_status", (PyCFunction)(void (*)(void))span_set_status, METH_VARARGS | METH_KEYWORDS,
     "set_status(status, description=None): StatusCode.OK is final; a description is kept with ERROR only."},
    {"record_exception", span_record_exception, METH_O,
     "record_exception(exc): the `exception` event (type, message, stacktrace) and status ERROR."},
    {"end", (PyCFunction)(void (*)(void))span_end, METH_FASTCALL | METH_KEYWORDS,
     "end(end_time_ns=None): ends the span now, or at end_time_ns (Unix ns). Later calls do nothing."},
    {"is_recording", span_is_recording, METH_NOARGS, "True while the span is live and tracing is on."},
    {"__enter__", span_enter, METH_NOARGS, "Makes the span current (contextvars) for the block."},
    {"__exit__", (PyCFunction)(void (*)(void))span_exit, METH_FASTCALL,
     "Restores the previous current span, records an escaping exception (status ERROR), ends the span."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef span_getset[] = {
    {"context", span_get_context, NULL, "The span's SpanContext (for links and other threads).", NULL},
    {"trace_id", span_trace_id, NULL, "Trace id, 32 hex digits (zeros when not recording).", NULL},
    {"span_id", span_span_id, NULL, "Span id, 16 hex digits (zeros when not recording).", NULL},
    {"traceparent", span_traceparent, NULL, "The W3C traceparent header value of this span.", NULL},
    {"tracestate", span_tracestate, NULL, "The W3C tracestate this span carries, to forward ('' when none).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject SpanType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "spanring.Span",
    .tp_basicsize = sizeof(SpanObject),
    .tp_dealloc = span_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A span. Made by spanring.span() / start_span(); use it as a context manager or call end().",
    .tp_methods = span_methods,
    .tp_getset = span_getset,
};

/* ------------------------------------------------------------------------------------------ */
/* Module functions */

static PyObject* py_init(PyObject* module, PyObject* args, PyObject* kwargs) {
  (void)module;
  static char* kwlist[] = {"service_name", "resource", "shm_size", "rings", "access", NULL};
  PyObject *service = Py_None, *resource = Py_None;
  unsigned long long shm_size = 0;
  unsigned int rings = 0;
  int access = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OOKIi:init", kwlist, &service, &resource, &shm_size, &rings, &access))
    return NULL;
  spanring_options o;
  memset(&o, 0, sizeof o);
  if (service != Py_None) {
    if (!PyUnicode_Check(service)) {
      PyErr_SetString(PyExc_TypeError, "spanring.init: service_name must be a str");
      return NULL;
    }
    o.service_name = PyUnicode_AsUTF8(service);
    if (o.service_name == NULL) return NULL;
  }
  o.shm_size = shm_size;
  o.rings = rings;
  o.access = access;
  PyObject* items = NULL;
  spanring_string* keys = NULL;
  spanring_string* values = NULL;
  if (resource != Py_None) {
    items = PyMapping_Items(resource);
    if (items == NULL) return NULL;
    const Py_ssize_t n = PyList_GET_SIZE(items);
    keys = PyMem_Calloc((size_t)n + 1, sizeof *keys);
    values = PyMem_Calloc((size_t)n + 1, sizeof *values);
    if (keys == NULL || values == NULL) goto fail;
    for (Py_ssize_t k = 0; k < n; ++k) {
      PyObject* kv = PyList_GET_ITEM(items, k);
      PyObject *key = PyTuple_GET_ITEM(kv, 0), *value = PyTuple_GET_ITEM(kv, 1);
      if (!PyUnicode_Check(key) || !PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "spanring.init: resource keys and values must be str (key %R)", key);
        goto fail;
      }
      Py_ssize_t len;
      if ((keys[k].text = PyUnicode_AsUTF8AndSize(key, &len)) == NULL) goto fail;
      keys[k].length = (size_t)len;
      if ((values[k].text = PyUnicode_AsUTF8AndSize(value, &len)) == NULL) goto fail;
      values[k].length = (size_t)len;
    }
    o.resource_keys = keys;
    o.resource_values = values;
    o.resource_count = (size_t)n;
  }
  char error[1024];
  int code;
  Py_BEGIN_ALLOW_THREADS code = spanring_init(&o, error, sizeof error);
  Py_END_ALLOW_THREADS PyMem_Free(keys);
  PyMem_Free(values);
  Py_XDECREF(items);
  return Py_BuildValue("(is)", code, error);
fail:
  PyMem_Free(keys);
  PyMem_Free(values);
  Py_XDECREF(items);
  return NULL;
}

static PyObject* py_shutdown(PyObject* module, PyObject* unused) {
  (void)module;
  (void)unused;
  Py_BEGIN_ALLOW_THREADS spanring_shutdown();
  Py_END_ALLOW_THREADS Py_RETURN_NONE;
}

static PyObject* py_enabled(PyObject* module, PyObject* unused) {
  (void)module;
  (void)unused;
  return PyBool_FromLong(spanring_enabled());
}

static PyObject* py_counters(PyObject* module, PyObject* unused) {
  (void)module;
  (void)unused;
  uint64_t written, full, no_ring;
  spanring_get_counters(&written, &full, &no_ring);
  return Py_BuildValue("{sKsKsK}", "spans_written", (unsigned long long)written, "spans_dropped_full",
                       (unsigned long long)full, "spans_dropped_no_ring", (unsigned long long)no_ring);
}

static PyObject* py_current_span(PyObject* module, PyObject* unused) {
  (void)module;
  (void)unused;
  PyObject* v;
  if (PyContextVar_Get(g_current, Py_None, &v) < 0) return NULL;
  return v;
}

static PyObject* py_current_ids(PyObject* module, PyObject* unused) {
  (void)module;
  (void)unused;
  PyObject* v;
  if (PyContextVar_Get(g_current, Py_None, &v) < 0) return NULL;
  if (!Py_IS_TYPE(v, &SpanType)) {
    Py_DECREF(v);
    Py_RETURN_NONE;
  }
  spanring_span_context c;
  context_of(v, &c);
  Py_DECREF(v);
  static const uint8_t zero[16];
  if (memcmp(c.trace_id, zero, 16) == 0) Py_RETURN_NONE; /* not recording (tracing off) */
  PyObject* t = hex_of(c.trace_id, 16);
  PyObject* s = hex_of(c.span_id, 8);
  if (t == NULL || s == NULL) {
    Py_XDECREF(t);
    Py_XDECREF(s);
    return NULL;
  }
  PyObject* r = PyTuple_Pack(2, t, s);
  Py_DECREF(t);
  Py_DECREF(s);
  return r;
}

static const char* header_text(PyObject* v, Py_ssize_t* n, const char* what) {
  if (v == Py_None) {
    *n = 0;
    return NULL;
  }
  if (PyBytes_Check(v)) {
    *n = PyBytes_GET_SIZE(v);
    return PyBytes_AS_STRING(v);
  }
  if (!PyUnicode_Check(v)) {
    PyErr_Format(PyExc_TypeError, "spanring.extract: %s must be a str or bytes, not %.100s", what, Py_TYPE(v)->tp_name);
    return NULL;
  }
  return PyUnicode_AsUTF8AndSize(v, n);
}

static PyObject* py_extract(PyObject* module, PyObject* args) {
  (void)module;
  PyObject *tp, *ts;
  if (!PyArg_ParseTuple(args, "OO:extract_values", &tp, &ts)) return NULL;
  Py_ssize_t ntp, nts;
  const char* ctp = header_text(tp, &ntp, "traceparent");
  if (ctp == NULL && PyErr_Occurred()) return NULL;
  const char* cts = header_text(ts, &nts, "tracestate");
  if (cts == NULL && PyErr_Occurred()) return NULL;
  spanring_span_context c;
  if (!spanring_extract(ctp, (size_t)ntp, cts, (size_t)nts, &c)) Py_RETURN_NONE;
  return context_new(&c);
}

static PyObject* py_set_exception_formatter(PyObject* module, PyObject* fn) {
  (void)module;
  Py_XSETREF(g_exception_info, Py_NewRef(fn));
  Py_RETURN_NONE;
}

static PyObject* py_after_fork_in_child(PyObject* module, PyObject* unused) {
  (void)module;
  (void)unused;
  ++g_generation;
  Py_RETURN_NONE;
}

/* The C-level figure for the benchmark: ns per span of the same span bench/python measures
 * (child of a live parent, three attributes: bool, int, short string), through the same
 * libspanring.so, without Python in the loop. */
static PyObject* py_bench_c_spans(PyObject* module, PyObject* arg) {
  (void)module;
  const long n = PyLong_AsLong(arg);
  if (n < 0 || PyErr_Occurred()) return NULL;
  const spanring_key parent_name = spanring_intern("bench.parent", 12);
  const spanring_key child_name = spanring_intern("bench.child", 11);
  const spanring_key hit = spanring_intern("cache.hit", 9);
  const spanring_key layer = spanring_intern("cache.layer", 11);
  const spanring_key tier = spanring_intern("cache.tier", 10);
  spanring_span parent, span;
  spanring_span_start(&parent, parent_name, SPANRING_KIND_SERVER, NULL);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; ++i) {
    spanring_span_start(&span, child_name, SPANRING_KIND_INTERNAL, &parent);
    spanring_span_set_bool(&span, hit, 1);
    spanring_span_set_int(&span, layer, i);
    spanring_span_set_string(&span, tier, "hot", 3);
    spanring_span_end(&span);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  spanring_span_end(&parent);
  const long long ns = (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
  return PyLong_FromLongLong(ns);
}

static PyMethodDef module_methods[] = {
    {"span", (PyCFunction)(void (*)(void))py_span, METH_FASTCALL | METH_KEYWORDS,
     "span(name, kind=SpanKind.INTERNAL, attributes=None, start_time_ns=None, parent=<current>, links=None)\n"
     "Starts a span: a child of `parent` (a Span or SpanContext; None: a new trace), by default of the current span.\n"
     "Use it with `with` (it becomes the current span for the block) or call end()."},
    {"init", (PyCFunction)(void (*)(void))py_init, METH_VARARGS | METH_KEYWORDS, "Low-level init: returns (code, message)."},
    {"shutdown", py_shutdown, METH_NOARGS, "Marks the segment closed and turns tracing off."},
    {"enabled", py_enabled, METH_NOARGS, "True while tracing is on in this process."},
    {"counters", py_counters, METH_NOARGS, "This process's counters: spans written, dropped (ring full, no ring)."},
    {"current_span", py_current_span, METH_NOARGS, "The current Span of this context, or None."},
    {"current_ids", py_current_ids, METH_NOARGS, "(trace_id, span_id) of the current span as hex, or None."},
    {"extract_values", py_extract, METH_VARARGS, "extract_values(traceparent, tracestate) -> SpanContext or None."},
    {"_set_exception_formatter", py_set_exception_formatter, METH_O, NULL},
    {"_after_fork_in_child", py_after_fork_in_child, METH_NOARGS, NULL},
    {"_bench_c_spans", py_bench_c_spans, METH_O, "ns for n spans made in C through libspanring.so (benchmark)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "spanring._spanring", "spanring's extension module (see the spanring package).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__spanring(void) {
  if (PyType_Ready(&SpanType) < 0 || PyType_Ready(&ContextType) < 0) return NULL;
  PyObject* m = PyModule_Create(&module_def);
  if (m == NULL) return NULL;
  static const char* const kwnames[6] = {"name", "kind", "attributes", "start_time_ns", "parent", "links"};
  for (int k = 0; k < 6; ++k)
    if ((g_kwnames[k] = PyUnicode_InternFromString(kwnames[k])) == NULL) goto fail;
  g_current = PyContextVar_New("spanring_current_span", NULL);
  g_key_cache = PyDict_New();
  if (g_current == NULL || g_key_cache == NULL) goto fail;
  if (PyModule_AddObjectRef(m, "Span", (PyObject*)&SpanType) < 0 ||
      PyModule_AddObjectRef(m, "SpanContext", (PyObject*)&ContextType) < 0 ||
      PyModule_AddObjectRef(m, "current_span_var", g_current) < 0 ||
      PyModule_AddIntConstant(m, "API_MAJOR", SPANRING_API_MAJOR) < 0)
    goto fail;
  return m;
fail:
  Py_DECREF(m);
  return NULL;
}

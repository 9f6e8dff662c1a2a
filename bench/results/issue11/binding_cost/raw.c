#define PY_SSIZE_T_CLEAN
#include <Python.h>
typedef struct { PyObject_HEAD long x; } S;
static PyTypeObject ST = {PyVarObject_HEAD_INIT(NULL, 0).tp_name = "raw.S", .tp_basicsize = sizeof(S), .tp_flags = Py_TPFLAGS_DEFAULT};
static PyObject* set_attribute(PyObject* self, PyObject* const* a, Py_ssize_t n) { ((S*)self)->x += PyLong_Check(a[1]); Py_RETURN_NONE; }
static PyMethodDef sm[] = {{"set_attribute", (PyCFunction)(void(*)(void))set_attribute, METH_FASTCALL, NULL}, {NULL}};
static PyObject* span(PyObject* m, PyObject* const* a, Py_ssize_t n, PyObject* kw) {
  S* s = PyObject_New(S, &ST); s->x = 0;
  PyObject* d = n > 1 ? a[1] : (kw ? a[n] : NULL);
  if (d) { Py_ssize_t p = 0; PyObject *k, *v; while (PyDict_Next(d, &p, &k, &v)) s->x++; }
  return (PyObject*)s;
}
static PyMethodDef mm[] = {{"span", (PyCFunction)(void(*)(void))span, METH_FASTCALL | METH_KEYWORDS, NULL}, {NULL}};
static struct PyModuleDef md = {PyModuleDef_HEAD_INIT, "rawmod", NULL, -1, mm};
PyMODINIT_FUNC PyInit_rawmod(void) { ST.tp_methods = sm; PyType_Ready(&ST); PyObject* m = PyModule_Create(&md); return m; }

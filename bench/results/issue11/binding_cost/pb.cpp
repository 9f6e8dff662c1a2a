#include <pybind11/pybind11.h>
namespace py = pybind11;
struct S { long x = 0; };
PYBIND11_MODULE(pbmod, m) {
  py::class_<S>(m, "S").def("set_attribute", [](S& s, py::str k, py::object v) { s.x += PyLong_Check(v.ptr()); });
  m.def("span", [](py::str name, py::dict attributes) { S s; for (auto kv : attributes) s.x += 1; return s; },
        py::arg("name"), py::arg("attributes") = py::dict());
}

import timeit, statistics, pbmod, rawmod
for name, mod in (("pybind11", pbmod), ("raw C API", rawmod)):
    s = mod.span("x", attributes={"a": 1})
    t1 = statistics.median(timeit.repeat(lambda: mod.span("x", attributes={"a": True, "b": 1, "c": "hot"}), number=200000, repeat=5)) / 200000 * 1e9
    t2 = statistics.median(timeit.repeat(lambda: s.set_attribute("k", 1), number=200000, repeat=5)) / 200000 * 1e9
    t0 = statistics.median(timeit.repeat(lambda: None, number=200000, repeat=5)) / 200000 * 1e9
    print(f"{name}: span(name, attributes=3-item dict) {t1 - t0:.0f} ns, set_attribute(k, v) {t2 - t0:.0f} ns (lambda overhead {t0:.0f} ns subtracted)")

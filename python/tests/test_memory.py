"""No allocation grows with the number of spans: tracemalloc sees the same memory after 20,000
more spans of every kind (context manager with attributes and lists, events, links, explicit
times, exceptions) as after the first 20,000. A leaked reference per span (a token, a list, a
Span object) would show as ≥ 20,000 × its size."""
import gc
import tracemalloc

import spanring


def burst(n, ctx):
    for i in range(n):
        with spanring.span("req", attributes={"hit": True, "layer": i, "tier": "hot", "r": ["stop"]}) as s:
            s.add_event("tok", {"i": i, "l": [1.5]}, time_ns=1_700_000_000_000_000_000 + i)
            s.add_link(ctx, {"why": "batch"})
            with spanring.span("child", start_time_ns=1_700_000_000_000_000_000):
                pass
        if i % 100 == 0:
            try:
                with spanring.span("fail"):
                    raise ValueError("x")
            except ValueError:
                pass
        t = spanring.start_span("bare")
        t.end()


def test_memory_does_not_grow_with_spans(tracer):
    ctx = spanring.extract({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    burst(2_000, ctx)  # warm caches: interned keys, free lists
    gc.collect()
    tracemalloc.start()
    try:
        burst(20_000, ctx)
        gc.collect()
        first = tracemalloc.take_snapshot()
        burst(20_000, ctx)
        gc.collect()
        second = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    growth = sum(stat.size_diff for stat in second.compare_to(first, "filename"))
    assert growth < 16 * 1024, [str(s) for s in second.compare_to(first, "lineno")[:5]]
    assert spanring.counters()["spans_dropped_no_ring"] == 0

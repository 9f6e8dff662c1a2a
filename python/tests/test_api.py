"""The Python API in one process: no-op before init, failed init, parentage through contextvars
(asyncio tasks, threads), exceptions, extract/inject, the log filter, the decorator."""
import asyncio
import contextvars
import glob
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import spanring
from conftest import unique_service

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_every_call_is_a_noop_before_init():
    assert not spanring.enabled()
    with spanring.span("x", attributes={"a": 1}) as s:
        s.set_attribute("k", [1, 2])
        s.add_event("e", {"a": "b"})
        s.set_status(spanring.StatusCode.ERROR, "d")
        assert not s.is_recording()
        assert spanring.current_span() is s
        assert spanring.current_ids() is None
        assert spanring.inject({}) == {}
    assert spanring.current_span() is None


def test_failed_init_logs_raises_nothing_and_leaves_noops(monkeypatch, caplog):
    monkeypatch.setenv("SPANRING_SHM_MODE", "0777")
    with caplog.at_level(logging.WARNING, logger="spanring"):
        assert spanring.init(service_name=unique_service("bad")) is False
    assert "SPANRING_SHM_MODE" in caplog.text
    assert not spanring.enabled()
    with spanring.span("after") as s:
        assert not s.is_recording()
    with pytest.raises(RuntimeError, match="SPANRING_SHM_MODE"):
        spanring.init(service_name=unique_service("bad"), raise_on_error=True)


def test_child_of_the_current_span_and_scope_restored(tracer):
    with spanring.span("parent") as p:
        assert spanring.current_span() is p
        with spanring.span("child") as c:
            assert c.trace_id == p.trace_id and c.span_id != p.span_id
            assert spanring.current_ids() == (c.trace_id, c.span_id)
        assert spanring.current_span() is p
        other = spanring.span("root", parent=None)
        assert other.trace_id != p.trace_id
        other.end()
    assert spanring.current_span() is None


def test_many_asyncio_tasks_each_keep_their_own_parent(tracer):
    async def task(i):
        with spanring.span(f"task{i}") as p:
            for _ in range(3):
                await asyncio.sleep(0)  # every task interleaves with every other
                assert spanring.current_span() is p
                with spanring.span("step") as c:
                    await asyncio.sleep(0)
                    assert spanring.current_span() is c
                    assert c.trace_id == p.trace_id
                assert spanring.current_span() is p
        return p.trace_id

    async def main():
        return await asyncio.gather(*(task(i) for i in range(100)))

    traces = asyncio.run(main())
    assert len(set(traces)) == 100  # each task a trace of its own


def test_threads_each_keep_their_own_current_span_and_a_copied_context_carries_it(tracer):
    barrier = threading.Barrier(4)
    errors = []

    def worker(i):
        try:
            with spanring.span(f"thread{i}") as p:
                barrier.wait()
                for _ in range(200):
                    with spanring.span("inner") as c:
                        assert c.trace_id == p.trace_id
                    assert spanring.current_span() is p
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with spanring.span("submitter") as p:
        with ThreadPoolExecutor(2) as pool:
            ctx = contextvars.copy_context()
            tid = pool.submit(ctx.run, lambda: spanring.span("in_pool").trace_id).result()
    assert tid == p.trace_id


def test_context_manager_records_the_escaping_exception_and_reraises(tracer):
    with pytest.raises(KeyError):
        with spanring.span("fails") as s:
            raise KeyError("missing")
    assert not s.is_recording()  # ended
    assert spanring.current_span() is None


def test_extract_and_inject_on_any_mapping_forward_tracestate(tracer):
    ctx = spanring.extract({"TraceParent": TP, "tracestate": "rojo=1,congo=2"})
    assert ctx.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and ctx.span_id == "00f067aa0ba902b7"
    assert ctx.is_remote and ctx.trace_state == "rojo=1,congo=2"
    assert spanring.extract({}) is None
    assert spanring.extract({"traceparent": "garbage"}) is None
    with spanring.span("server", kind=spanring.SpanKind.SERVER, parent=ctx) as s:
        out = spanring.inject({})
        assert out["traceparent"] == f"00-4bf92f3577b34da6a3ce929d0e0e4736-{s.span_id}-01"
        assert out["tracestate"] == "rojo=1,congo=2"
    # multi-value header mappings (e.g. lists of values) and bytes
    assert spanring.extract({b"traceparent": [TP.encode()]}).trace_id == ctx.trace_id


def test_log_filter_adds_the_current_ids(tracer):
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    f = spanring.LogFilter()
    f.filter(record)
    assert (record.trace_id, record.span_id) == ("", "")
    with spanring.span("logged") as s:
        f.filter(record)
        assert (record.trace_id, record.span_id) == (s.trace_id, s.span_id)


def test_use_span_makes_a_span_current_without_ending_it(tracer):
    s = spanring.start_span("later")
    with spanring.use_span(s):
        assert spanring.current_span() is s
        with spanring.span("child") as c:
            assert c.trace_id == s.trace_id
    assert spanring.current_span() is None and s.is_recording()
    s.end()
    assert not s.is_recording()


def test_traced_decorates_sync_and_async_functions(tracer):
    @spanring.traced("sync.op")
    def f(x):
        return spanring.current_span(), x

    @spanring.traced
    async def g():
        return spanring.current_span()

    s, x = f(3)
    assert x == 3 and s is not None and not s.is_recording()
    assert f.__name__ == "f"
    s2 = asyncio.run(g())
    assert s2 is not None and spanring.current_span() is None


@pytest.mark.parametrize("bad, error", [
    ({1: "x"}, TypeError),                       # non-string key
    ({"k": None}, TypeError),                    # wrong value type
    ({"k": {"a": 1}}, TypeError),
    ({"k": object()}, TypeError),
    ({"k": [[1], [2]]}, TypeError),              # nested list
    ({"k": [1, "a"]}, TypeError),                # mixed list
    ({"k": [1, 2.5]}, TypeError),
    ({"k": 1 << 70}, ValueError),                # beyond int64
    ({"k": [1 << 64]}, ValueError),
    ({"k": "\ud800"}, ValueError),               # lone surrogate: not UTF-8 (UnicodeEncodeError)
    ({"\udfff": 1}, ValueError),
])
def test_bad_attributes_raise_a_clear_error_and_write_nothing(tracer, bad, error):
    before = spanring.counters()["spans_written"]
    with pytest.raises(error):
        spanring.span("bad", attributes=bad)
    with spanring.span("ok") as s:
        with pytest.raises(error):
            s.set_attributes(bad)
        with pytest.raises(error):
            s.add_event("e", bad)
        with pytest.raises(error):
            s.add_link(s.context, bad)
    assert spanring.counters()["spans_written"] == before + 1  # "ok" only


@pytest.mark.parametrize("call, error", [
    (lambda: spanring.span(3), TypeError),
    (lambda: spanring.span("x", kind=9), ValueError),
    (lambda: spanring.span("x", start_time_ns=-5), ValueError),
    (lambda: spanring.span("x", start_time_ns="now"), TypeError),
    (lambda: spanring.span("x", start_time_ns=1.5), TypeError),
    (lambda: spanring.span("x", parent="p"), TypeError),
    (lambda: spanring.span("x", bogus=1), TypeError),
    (lambda: spanring.span(), TypeError),
    (lambda: spanring.span("x").end(end_time_ns=0), ValueError),
    (lambda: spanring.span("x").set_status(7), ValueError),
    (lambda: spanring.span("x").set_status(2, 5), TypeError),
    (lambda: spanring.span("x").record_exception("not an exception"), TypeError),
    (lambda: spanring.span("x").add_link("ctx"), TypeError),
    (lambda: spanring.span("x").add_event("e", time_ns=True), TypeError),
    (lambda: spanring.span("x", attributes=[1, 2]), TypeError),
    (lambda: spanring.span("x", links=5), TypeError),
    (lambda: spanring.span("x", links=["not a context"]), TypeError),
])
def test_wrong_arguments_raise(tracer, call, error):
    with pytest.raises(error):
        call()


def test_nan_huge_strings_and_huge_lists_are_kept_cut_or_counted(tracer):
    with spanring.span("edge") as s:
        s.set_attribute("nan", float("nan"))
        s.set_attribute("huge", "x" * 1_000_000)       # cut to 1 KiB by the encoder
        s.set_attribute("many", list(range(100_000)))  # cannot fit: dropped and counted
        s.add_event("e", {str(i): i for i in range(300)})
    assert spanring.counters()["spans_written"] >= 1


def test_fork_child_reinitialises_into_its_own_segment(tracer):
    with spanring.span("parent.open"):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: tracing on again, its own segment, the parent's open span not written
            ok = spanring.enabled() and spanring.counters()["spans_written"] == 0
            with spanring.span("child.span"):
                pass
            ok = ok and spanring.counters()["spans_written"] == 1
            os.write(w, b"1" if ok else b"0")
            os._exit(0)
        os.close(w)
        assert os.read(r, 1) == b"1"
        os.waitpid(pid, 0)
    child_segments = glob.glob(f"/dev/shm/spanring.{tracer}.{pid}*")
    assert len(child_segments) == 1
    os.unlink(child_segments[0])

"""Spans made from Python arrive at spanring-agent (file exporter, OTLP/JSON) with every field
right: attributes (arrays included), events, links, status, exception, explicit timestamps,
parentage (asyncio too), and from forked / spawned worker processes."""
import asyncio
import multiprocessing
import os
import time

import pytest

import spanring
from conftest import attrs, unique_service

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
T0 = 1_700_000_000_000_000_000


def by_name(spans):
    out = {}
    for s in spans:
        out.setdefault(s["name"], []).append(s)
    return out


def test_every_field_arrives_as_written(agent, tracer):
    remote = spanring.extract({"traceparent": TP, "tracestate": "rojo=1"})
    linked = spanring.extract({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    before = time.time_ns()
    with spanring.span("request", kind=spanring.SpanKind.SERVER, parent=remote,
                       attributes={"s": "v", "b": True, "i": -7, "f": 0.5,
                                   "gen_ai.response.finish_reasons": ["stop", "length"],
                                   "ints": [1, 2], "floats": [1.5], "bools": [True, False], "empty": []},
                       start_time_ns=T0) as root:
        root.add_event("queued", {"queue.depth": 3, "tags": ["a"]}, time_ns=T0 + 5)
        root.add_event("now")
        root.add_link(linked, {"link.reason": "batch"})
        with spanring.span("child", kind=spanring.SpanKind.CLIENT) as child:
            child.set_status(spanring.StatusCode.OK)
        with pytest.raises(ValueError):
            with spanring.span("failing"):
                raise ValueError("bad token")
        late = spanring.start_span("explicit", start_time_ns=T0 + 1, links=[linked, root])
        late.end(end_time_ns=T0 + 99)
    spans = by_name(agent.collect(tracer, 4))
    assert set(spans) == {"request", "child", "failing", "explicit"}, spans.keys()
    r = spans["request"][0]
    assert r["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert r["parentSpanId"] == "00f067aa0ba902b7"
    assert r["spanId"] == root.span_id
    assert r["traceState"] == "rojo=1"
    assert r["kind"] == 2
    assert int(r["startTimeUnixNano"]) == T0
    assert int(r["endTimeUnixNano"]) >= before
    a = attrs(r["attributes"])
    assert a["s"] == "v" and a["b"] is True and a["i"] == -7 and a["f"] == 0.5
    assert a["gen_ai.response.finish_reasons"] == ["stop", "length"]
    assert a["ints"] == [1, 2] and a["floats"] == [1.5] and a["bools"] == [True, False] and a["empty"] == []
    ev = {e["name"]: e for e in r["events"]}
    assert int(ev["queued"]["timeUnixNano"]) == T0 + 5
    assert attrs(ev["queued"]["attributes"]) == {"queue.depth": 3, "tags": ["a"]}
    assert int(ev["now"]["timeUnixNano"]) >= before
    assert r["links"][0]["traceId"] == "0af7651916cd43dd8448eb211c80319c"
    assert attrs(r["links"][0]["attributes"]) == {"link.reason": "batch"}
    c = spans["child"][0]
    assert c["parentSpanId"] == root.span_id and c["traceId"] == r["traceId"] and c["kind"] == 3
    assert c["status"]["code"] == 1
    assert c["traceState"] == "rojo=1"  # inherited, forwarded
    f = spans["failing"][0]
    assert f["status"]["code"] == 2 and f["status"]["message"] == "bad token"
    exc = attrs(f["events"][0]["attributes"])
    assert f["events"][0]["name"] == "exception"
    assert exc["exception.type"] == "ValueError" and exc["exception.message"] == "bad token"
    assert "Traceback" in exc["exception.stacktrace"] and 'raise ValueError("bad token")' in exc["exception.stacktrace"]
    e = spans["explicit"][0]
    assert [l["spanId"] for l in e["links"]] == ["b7ad6b7169203331", root.span_id]
    assert int(e["startTimeUnixNano"]) == T0 + 1 and int(e["endTimeUnixNano"]) == T0 + 99 and e["parentSpanId"] == root.span_id


def test_asyncio_tasks_interleaving_on_one_loop_get_their_own_parents(agent, tracer):
    async def request(i):
        with spanring.span("request", attributes={"i": i}):
            await asyncio.sleep(0.001 * (i % 3))
            for step in range(2):
                with spanring.span("decode", attributes={"i": i, "step": step}):
                    await asyncio.sleep(0)

    async def main():
        await asyncio.gather(*(request(i) for i in range(30)))

    asyncio.run(main())
    spans = by_name(agent.collect(tracer, 90))
    parents = {attrs(s["attributes"])["i"]: s for s in spans["request"]}
    assert len(parents) == 30 and len(spans["decode"]) == 60
    for d in spans["decode"]:
        p = parents[attrs(d["attributes"])["i"]]
        assert d["parentSpanId"] == p["spanId"] and d["traceId"] == p["traceId"]


def test_bad_values_are_cut_or_counted_never_lost_silently(agent, tracer):
    with spanring.span("edge") as s:
        s.set_attribute("nan", float("nan"))
        s.set_attribute("long", "é" * 200)
        s.set_attribute("huge", "é" * 100_000)         # cut to 1 KiB, still more than a span holds
        s.set_attribute("many", list(range(10_000)))   # an array is all or nothing
    span = agent.collect(tracer, 1)[0]
    a = {kv["key"]: kv["value"] for kv in span["attributes"]}
    assert a["nan"]["doubleValue"] == "NaN"
    assert a["long"]["stringValue"] == "é" * 200
    assert "huge" not in a and "many" not in a and span["droppedAttributesCount"] == 2


def _forked_worker(traceparent):
    # fork start method: spanring re-initialised itself in this child
    with spanring.span("worker", parent=spanring.extract({"traceparent": traceparent}), attributes={"pid": os.getpid()}):
        pass
    spanring.shutdown()


def _spawned_worker(service, traceparent):
    # spawn start method: a new interpreter; it initialises tracing itself
    import spanring as sr
    assert sr.init(service_name=service)
    with sr.span("worker", parent=sr.extract({"traceparent": traceparent}), attributes={"pid": os.getpid()}):
        pass
    sr.shutdown()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_worker_processes_trace_into_their_own_segments(agent, tracer, method):
    mp = multiprocessing.get_context(method)
    with spanring.span("dispatch") as parent:
        if method == "fork":
            p = mp.Process(target=_forked_worker, args=(parent.traceparent,))
        else:
            p = mp.Process(target=_spawned_worker, args=(tracer, parent.traceparent))
        p.start()
        p.join(60)
        assert p.exitcode == 0
    spans = by_name(agent.collect(tracer, 2))
    worker = spans["worker"][0]
    assert worker["traceId"] == parent.trace_id and worker["parentSpanId"] == parent.span_id
    assert attrs(worker["attributes"])["pid"] == p.pid
    assert "pid" not in attrs(spans["dispatch"][0]["attributes"])
    assert len(spans["dispatch"]) == 1  # the child did not write the parent's open span


def test_example_server_writes_genai_spans_with_explicit_times_and_logs_trace_ids(agent):
    import subprocess
    import sys
    service = unique_service("example")
    example = os.path.join(os.environ.get("SPANRING_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")),
                           "examples", "python", "llm_server.py")
    env = dict(os.environ, OTEL_SERVICE_NAME=service)
    out = subprocess.run([sys.executable, example, "--requests", "6"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    spans = by_name(agent.collect(service, 6 * 4, until=lambda got: sum(
        s["name"] in ("chat llama-3-8b", "queued", "prefill", "decode") for s in got) == 6 * 4))
    roots = spans["chat llama-3-8b"]
    assert len(roots) == 6
    for r in roots:
        a = attrs(r["attributes"])
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "llama-3-8b"
        assert a["gen_ai.response.finish_reasons"] in (["stop"], ["length"])
        assert a["gen_ai.usage.output_tokens"] >= 1 and a["gen_ai.response.time_to_first_chunk"] > 0
        assert r["traceId"] in out.stderr  # the log line of the request carries its trace id
        children = [s for n in ("queued", "prefill", "decode") for s in spans[n] if s["parentSpanId"] == r["spanId"]]
        assert len(children) == 3
        q = next(s for s in children if s["name"] == "queued")
        assert q["startTimeUnixNano"] == r["startTimeUnixNano"]  # both the measured arrival
        d = next(s for s in children if s["name"] == "decode")
        assert d["endTimeUnixNano"] == r["endTimeUnixNano"]
    assert spans["engine_step"]


def test_init_resource_merges_over_otel_resource_attributes(agent, monkeypatch):
    service = unique_service("resource")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=env,team=from-env")
    assert spanring.init(service_name=service, resource={"deployment.environment": "api"}, shm_size=1 << 20)
    try:
        with spanring.span("r"):
            pass
    finally:
        spanring.shutdown()
    span = agent.collect(service, 1)[0]
    resource = attrs([{"key": k, "value": v} for k, v in span["_resource"].items()])
    assert resource["deployment.environment"] == "api"  # the API wins per key
    assert resource["team"] == "from-env"
    assert resource["service.name"] == service

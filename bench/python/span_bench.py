#!/usr/bin/env python3
"""Per-span cost of the spanring Python package, one JSON line per case (name, median_ns):

  span_ctx_3attrs_child    `with spanring.span(name, attributes={bool, int, short str})` as a child
                           of a live parent (target: median <= 1000 ns)
  start_span_end_bare      `s = spanring.start_span(name); s.end()` (child of the same parent)
  c_span_3attrs_shared_lib the same span as the first, made by a C loop through the same
                           libspanring.so (spanring._spanring._bench_c_spans): the C-level figure
  python_empty_call        a call of an empty Python function: the interpreter's own unit of cost

All in one run and one process, so the ratios hold on a noisy machine. Each case: 5
repetitions of N spans; median_ns is the median of the repetitions' per-span means of this
thread's CPU time (time.thread_time_ns, like Google Benchmark's CPU column: other processes on a
shared 2-core machine do not inflate it); wall_median_ns is the same in wall-clock time. A
spanring-agent (exporter none) drains the segment as in production, so the rings never fill
(each case line carries the drops seen during it, which must be 0); a warm-up lap touches the
whole ring first, so page faults of the first lap are not measured.

  cmake --build build && PYTHONPATH=build/python python3 bench/python/span_bench.py
No allocation grows with the number of spans: python/tests/test_memory.py (tracemalloc).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "build", "python"))
import spanring  # noqa: E402

REPS = 5
N = 200_000


def start_agent(prefix):
    binary = os.environ.get("SPANRING_AGENT_BIN", os.path.join(ROOT, "build", "agent", "spanring-agent"))
    if not os.path.exists(binary):
        return None
    d = tempfile.mkdtemp(prefix="spanring-bench-")
    config = os.path.join(d, "agent.yaml")
    with open(config, "w") as f:
        f.write(f"discovery: {{segment_prefix: {prefix}, scan_interval: 100ms}}\n"
                "exporter: {type: none}\nmetrics: {listen: \"\"}\n")
    log = open(os.path.join(d, "agent.err"), "w+")
    proc = subprocess.Popen([binary, "--config", config], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(500):
        log.seek(0)
        if "spanring-agent started" in log.read():
            break
        time.sleep(0.01)
    return proc


def drops():
    c = spanring.counters()
    return c["spans_dropped_full"] + c["spans_dropped_no_ring"]


def case(name, run, n=N):
    before = drops()
    cpu, wall = [], []
    for _ in range(REPS):
        c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
        inner = run(n)  # the C loop times itself (wall): used when it is the only figure
        c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
        cpu.append((c1 - c0) / n)
        wall.append((inner if inner is not None else w1 - w0) / n)
        time.sleep(0.3)  # let the agent catch up between repetitions (not timed)
    print(json.dumps({"name": name, "median_ns": round(statistics.median(cpu), 1),
                      "wall_median_ns": round(statistics.median(wall), 1),
                      "reps_cpu_ns": [round(x, 1) for x in cpu], "spans_per_rep": n,
                      "drops": drops() - before}), flush=True)


def ctx_3attrs(n):
    span = spanring.span
    for i in range(n):
        with span("bench.child", attributes={"cache.hit": True, "cache.layer": i, "cache.tier": "hot"}):
            pass
    return None


def bare(n):
    start_span = spanring.start_span
    for _ in range(n):
        start_span("bench.child").end()
    return None


def empty(n):
    def f():
        pass
    for _ in range(n):
        f()
    return None


def main():
    tag = f"pybench{os.getpid()}"
    agent = start_agent(f"spanring.{tag}-")
    ok = spanring.init(service_name=f"{tag}-svc", shm_size=64 << 20, rings=1)
    if not ok:
        sys.exit("spanring.init failed")
    try:
        time.sleep(0.3)  # the agent attaches (inotify)
        spanring._spanring._bench_c_spans(600_000)  # warm-up lap: the ring's pages get touched
        time.sleep(0.5)
        with spanring.span("bench.parent", kind=spanring.SpanKind.SERVER):
            case("span_ctx_3attrs_child", ctx_3attrs)
            case("start_span_end_bare", bare)
            case("c_span_3attrs_shared_lib", spanring._spanring._bench_c_spans)
            case("python_empty_call", empty, 2_000_000)
    finally:
        spanring.shutdown()
        if agent is not None:
            time.sleep(0.3)
            agent.terminate()
            agent.wait(10)
        for f in os.listdir("/dev/shm"):
            if f.startswith(f"spanring.{tag}-") or f == f"spanring-agent.{tag}-lock":
                try:
                    os.unlink(os.path.join("/dev/shm", f))
                except OSError:
                    pass


if __name__ == "__main__":
    main()

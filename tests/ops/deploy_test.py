#!/usr/bin/env python3
"""deploy/ checked against the agent it deploys.

  deploy_test.py compose  SRC             compose.yaml parses; its ports are the agent's defaults
  deploy_test.py metrics  SRC AGENT LOADGEN
                                          every metric the dashboard and the alert rules name is
                                          served by a running agent's /metrics (with an engine
                                          attached), and so are build_info, process_* and the
                                          config reload metrics
  deploy_test.py promtool SRC             promtool check config / check rules
  deploy_test.py reload   SRC AGENT       a config change loaded by SIGHUP is not loaded again
                                          by the file watcher (reload counter in /metrics is 1)

Exit 77 (ctest: skipped) with the reason when a tool is missing.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIP = 77


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def load_yaml(path):
    try:
        import yaml
    except ImportError:
        print("SKIP: python3-yaml is not installed (Debian package python3-yaml)")
        sys.exit(SKIP)
    with open(path) as f:
        return yaml.safe_load(f)


def agent_defaults(src):
    """(OTLP endpoint port, metrics port) from the example config, which sets every default."""
    cfg = load_yaml(os.path.join(src, "agent/config/agent.example.yaml"))
    endpoint = cfg["exporter"]["otlp"]["endpoint"]
    m = re.match(r"http://[^:/]+:(\d+)/", endpoint)
    if not m:
        fail(f"cannot read the port of exporter.otlp.endpoint {endpoint!r}")
    listen = cfg["metrics"]["listen"]
    return int(m.group(1)), int(listen.rsplit(":", 1)[1]), listen


def check_compose(src):
    compose = load_yaml(os.path.join(src, "deploy/compose.yaml"))
    services = compose.get("services") or {}
    for name in ("jaeger", "prometheus", "grafana", "spanring-agent"):
        if name not in services:
            fail(f"compose.yaml has no service {name}")
    otlp_port, metrics_port, _ = agent_defaults(src)

    def published(svc):
        out = set()
        for p in services[svc].get("ports", []):
            host, _, container = str(p).rpartition(":")
            out.add((int(host.rsplit(":", 1)[-1]), int(container.split("/")[0])))
        return out

    jaeger = published("jaeger")
    for port in (4317, 4318, 16686):
        if (port, port) not in jaeger:
            fail(f"jaeger does not publish {port}:{port} (has {sorted(jaeger)})")
    if (otlp_port, otlp_port) not in jaeger:
        fail(f"the agent exports to port {otlp_port} by default, jaeger does not publish it")
    if not services["jaeger"]["image"].startswith("jaegertracing/jaeger:2"):
        fail("jaeger is not Jaeger v2 (jaegertracing/jaeger:2.x)")
    if services["prometheus"].get("network_mode") != "host":
        fail("prometheus must share the host network to reach the agent's default 127.0.0.1 listener")
    agent = services["spanring-agent"]
    for key, want in (("ipc", "host"), ("pid", "host")):
        if agent.get(key) != want:
            fail(f"the containerised agent needs {key}: {want}")
    prom = load_yaml(os.path.join(src, "deploy/prometheus/prometheus.yml"))
    targets = [t for job in prom["scrape_configs"] if job["job_name"] == "spanring-agent"
               for sc in job["static_configs"] for t in sc["targets"]]
    if not targets or any(int(t.rsplit(":", 1)[1]) != metrics_port for t in targets):
        fail(f"prometheus scrapes {targets}, the agent serves metrics on port {metrics_port}")
    ds = load_yaml(os.path.join(src, "deploy/grafana/provisioning/datasources/spanring.yaml"))
    types = {d["type"] for d in ds["datasources"]}
    if not {"prometheus", "jaeger"} <= types:
        fail(f"grafana data sources {types} lack prometheus or jaeger")
    jaeger_ds = next(d for d in ds["datasources"] if d["type"] == "jaeger")
    if "trace" not in json.dumps(jaeger_ds.get("jsonData", {})).lower():
        fail("the Jaeger data source has no trace → logs link")
    print(f"compose: OK (jaeger 4317/4318/16686, agent OTLP port {otlp_port}, metrics port {metrics_port})")


METRIC = re.compile(r"\b((?:spanring|process)_[a-zA-Z0-9_]+)")


def query_metric_names(src):
    names = {}
    with open(os.path.join(src, "deploy/grafana/dashboards/spanring.json")) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dash["templating"]["list"] if isinstance(v.get("query"), dict)]
    if not exprs:
        fail("the dashboard has no queries")
    for e in exprs:
        for n in METRIC.findall(e):
            names.setdefault(n, "dashboard")
    rules = load_yaml(os.path.join(src, "deploy/prometheus/rules.yml"))
    for g in rules["groups"]:
        for r in g["rules"]:
            for n in METRIC.findall(r["expr"]):
                names.setdefault(n, f"rule {r['alert']}")
    return names


def check_metrics(src, agent, loadgen):
    wanted = query_metric_names(src)
    work = tempfile.mkdtemp(prefix="spanring-deploy-test.")
    tag = f"dpl{os.getpid()}"
    with open(os.path.join(work, "agent.yaml"), "w") as f:
        f.write(f"discovery: {{segment_prefix: spanring.{tag}, scan_interval: 100ms}}\n"
                f"exporter: {{type: file, file: {{path: {work}/spans.jsonl}}}}\n"
                "batch: {timeout: 50ms}\nmetrics: {listen: 127.0.0.1:0}\n")
    log = open(os.path.join(work, "agent.log"), "w+")
    env = dict(os.environ, RUNTIME_DIRECTORY=os.path.join(work))
    proc = subprocess.Popen([agent, "--config", os.path.join(work, "agent.yaml")], stdout=log, stderr=log, env=env)
    try:
        port = None
        for _ in range(200):
            log.seek(0)
            m = re.search(r"metrics=127\.0\.0\.1:(\d+)", log.read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.05)
        if port is None:
            log.seek(0)
            fail("the agent did not start:\n" + log.read())
        subprocess.run([loadgen, "--service", f"{tag}-svc", "--rate", "200", "--duration", "0.3"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        text = ""
        for _ in range(100):
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            if re.search(rf'spanring_spans_exported_total{{service="{tag}-svc"}} [1-9]', text):
                break
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    served = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", text, re.M))
    missing = {n: where for n, where in wanted.items() if n not in served}
    if missing:
        fail("named in deploy/ but not served by the agent: " +
             ", ".join(f"{n} ({w})" for n, w in sorted(missing.items())))
    required = ["spanring_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes",
                "process_start_time_seconds", "process_open_fds", "process_max_fds", "process_virtual_memory_bytes",
                "spanring_config_reloads_total", "spanring_config_hash",
                "spanring_config_last_reload_success_timestamp_seconds"]
    absent = [n for n in required if n not in served]
    if absent:
        fail(f"/metrics lacks {absent}")
    if "# TYPE process_cpu_seconds_total counter" not in text:
        fail("process_cpu_seconds_total is not a counter")
    print(f"metrics: OK ({len(wanted)} metric names in the dashboard and rules, all served)")


def start_agent(agent, work, config_text):
    """Starts the agent on `config_text` (metrics on a free port); returns (proc, port, log)."""
    path = os.path.join(work, "agent.yaml")
    with open(path, "w") as f:
        f.write(config_text)
    log = open(os.path.join(work, "agent.log"), "w+")
    env = dict(os.environ, RUNTIME_DIRECTORY=work)
    proc = subprocess.Popen([agent, "--config", path], stdout=log, stderr=log, env=env)
    for _ in range(200):
        log.seek(0)
        m = re.search(r"metrics=127\.0\.0\.1:(\d+)", log.read())
        if m:
            return proc, int(m.group(1)), log
        time.sleep(0.05)
    proc.kill()
    log.seek(0)
    fail("the agent did not start:\n" + log.read())


def check_reload(src, agent):
    work = tempfile.mkdtemp(prefix="spanring-reload-test.")
    base = (f"discovery: {{segment_prefix: spanring.rld{os.getpid()}}}\nexporter: {{type: none}}\n"
            "metrics: {listen: 127.0.0.1:0}\n")
    proc, port, log = start_agent(agent, work, base + "sampling: {default_strategy: {type: probabilistic, param: 1.0}}\n")
    try:
        time.sleep(0.2)
        with open(os.path.join(work, "agent.yaml"), "w") as f:
            f.write(base + "sampling: {default_strategy: {type: probabilistic, param: 0.5}}\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(2.6)  # the watcher polls the file's stamp every 2 s
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.seek(0)
        agent_log = log.read()
        shutil.rmtree(work, ignore_errors=True)
    m = re.search(r'^spanring_config_reloads_total\{result="ok"\} (\d+)', text, re.M)
    if not m:
        fail("no spanring_config_reloads_total{result=\"ok\"} in /metrics")
    if int(m.group(1)) != 1 or agent_log.count("reloaded") != 1:
        fail(f"one change, {m.group(1)} reloads (log: {agent_log.count('reloaded')} 'reloaded' lines):\n{agent_log}")
    print("reload: OK (SIGHUP loaded the change once; the watcher did not load it again)")


def check_promtool(src):
    promtool = shutil.which("promtool")
    if not promtool:
        print("SKIP: promtool is not installed (Debian package prometheus)")
        sys.exit(SKIP)
    for args in (["check", "config", "deploy/prometheus/prometheus.yml"],
                 ["check", "rules", "deploy/prometheus/rules.yml"]):
        r = subprocess.run([promtool] + args, cwd=src, capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"promtool {' '.join(args)}:\n{r.stdout}{r.stderr}")
    print("promtool: OK (config and rules)")


def main():
    mode, src = sys.argv[1], sys.argv[2]
    if mode == "compose":
        check_compose(src)
    elif mode == "metrics":
        check_metrics(src, sys.argv[3], sys.argv[4])
    elif mode == "promtool":
        check_promtool(src)
    elif mode == "reload":
        check_reload(src, sys.argv[3])
    else:
        fail(f"unknown mode {mode}")


if __name__ == "__main__":
    main()

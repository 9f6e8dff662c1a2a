"""Fixtures for the spanring Python tests: a tracer per test (its own service name, so its own
segment), and one spanring-agent per session exporting what it drains as OTLP/JSON lines, which
`collect` reads back. The agent is build/agent/spanring-agent (SPANRING_AGENT_BIN, set by ctest);
tests that need it skip with the reason when it is missing."""
import glob
import json
import os
import subprocess
import tempfile
import time
import uuid

import pytest

import spanring

TAG = f"pyt{os.getpid()}"


def unique_service(suffix=""):
    return f"{TAG}-{suffix or 'svc'}-{uuid.uuid4().hex[:8]}"


def remove_segments(service):
    for f in glob.glob(f"/dev/shm/spanring.{service}.*"):
        try:
            os.unlink(f)
        except FileNotFoundError:
            pass


class Agent:
    def __init__(self, binary, workdir):
        self.out = os.path.join(workdir, "spans.jsonl")
        config = os.path.join(workdir, "agent.yaml")
        with open(config, "w") as f:
            f.write(f"""discovery:
  segment_prefix: spanring.{TAG}-
  scan_interval: 100ms
exporter:
  type: file
  file:
    path: {self.out}
batch:
  max_spans: 512
  timeout: 100ms
metrics:
  listen: ""
shutdown:
  deadline: 5s
""")
        self.err = open(os.path.join(workdir, "agent.err"), "w+")
        self.proc = subprocess.Popen([binary, "--config", config], stdout=self.err, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            self.err.seek(0)
            if "spanring-agent started" in self.err.read():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.err.seek(0)
        raise RuntimeError("agent did not start: " + self.err.read())

    def spans(self, service):
        """Every span the agent exported for `service`, as OTLP/JSON dicts (with '_resource')."""
        found = []
        if not os.path.exists(self.out):
            return found
        with open(self.out) as f:
            for line in f:
                if not line.strip():
                    continue
                for rs in json.loads(line).get("resourceSpans", []):
                    resource = {kv["key"]: kv["value"] for kv in rs.get("resource", {}).get("attributes", [])}
                    if resource.get("service.name", {}).get("stringValue") != service:
                        continue
                    for ss in rs.get("scopeSpans", []):
                        for s in ss.get("spans", []):
                            s["_resource"] = resource
                            found.append(s)
        return found

    def collect(self, service, count, timeout=15, until=None):
        """Waits until `count` spans of `service` arrived (and until(spans) holds, if given)."""
        deadline = time.time() + timeout
        while True:
            spans = self.spans(service)
            if (len(spans) >= count and (until is None or until(spans))) or time.time() > deadline:
                return spans
            time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.err.close()
        for lock in glob.glob(f"/dev/shm/spanring-agent.{TAG}-lock"):
            os.unlink(lock)


@pytest.fixture(scope="session")
def agent():
    binary = os.environ.get("SPANRING_AGENT_BIN")
    if not binary or not os.path.exists(binary):
        pytest.skip("spanring-agent not built (SPANRING_AGENT_BIN unset): end-to-end test skipped")
    workdir = tempfile.mkdtemp(prefix="spanring-pytest-")
    a = Agent(binary, workdir)
    yield a
    a.stop()


@pytest.fixture
def tracer():
    """An initialised tracer with a unique service name; shut down (and its segment removed if
    the agent did not) after the test."""
    service = unique_service()
    assert spanring.init(service_name=service, shm_size=1 << 20, raise_on_error=True)
    yield service
    spanring.shutdown()
    remove_segments(service)  # the agent removes drained ones; tests without it leave theirs


def attrs(kvs):
    """OTLP/JSON KeyValue list → {key: python value}."""
    return {kv["key"]: value(kv["value"]) for kv in kvs or []}


def value(v):
    if "stringValue" in v:
        return v["stringValue"]
    if "boolValue" in v:
        return v["boolValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        d = v["doubleValue"]
        return float(d) if isinstance(d, str) else d
    if "arrayValue" in v:
        return [value(x) for x in v["arrayValue"].get("values", [])]
    return v

#!/usr/bin/env python3
"""An asyncio inference server in the shape of vLLM, traced with spanring.

A request arrives (the time is measured then), waits in the queue, is scheduled into a batch,
prefilled, decoded one token per engine step, and finishes. Like vLLM, the engine records the
times as they happen and writes the request's spans when it finishes, with explicit timestamps:

  chat llama-3-8b   SERVER  arrival → finished; GenAI attributes (gen_ai.operation.name,
                            gen_ai.request.model, gen_ai.usage.*, gen_ai.response.finish_reasons
                            as an array, gen_ai.response.time_to_first_chunk), first_token event
    queued          INTERNAL arrival → scheduled
    prefill         INTERNAL scheduled → first token
    decode          INTERNAL first token → finished; one event per 8 tokens
  engine_step       INTERNAL one per scheduler step, linked to the requests it batched

Each log line carries the trace and span ids (spanring.LogFilter). Requests arrive with a W3C
traceparent half of the time, as from an upstream gateway.

  PYTHONPATH=build/python python3 examples/python/llm_server.py --requests 20
  (with build/agent/spanring-agent running, the spans are exported; OTEL_SERVICE_NAME names it)
"""
import argparse
import asyncio
import logging
import os
import random
import time

import spanring

MODEL = "llama-3-8b"
log = logging.getLogger("llm_server")


class Request:
    def __init__(self, rid, prompt_tokens, max_tokens, headers):
        self.rid = rid
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.parent = spanring.extract(headers)  # None: a new trace
        self.arrival_ns = time.time_ns()         # measured now, used when the spans are written
        self.scheduled_ns = self.first_token_ns = self.finished_ns = 0
        self.tokens = 0
        self.token_times = []
        self.finish_reason = ""
        self.done = asyncio.Event()
        self.span = None                          # started when the request is finished


class Engine:
    def __init__(self, max_batch):
        self.queue = asyncio.Queue()
        self.max_batch = max_batch
        self.running = []

    async def step_loop(self):
        while True:
            while len(self.running) < self.max_batch and not self.queue.empty():
                r = self.queue.get_nowait()
                r.scheduled_ns = time.time_ns()
                self.running.append(r)
            if not self.running:
                self.running.append(await self.queue.get())
                self.running[-1].scheduled_ns = time.time_ns()
                continue
            await self.step()

    async def step(self):
        # One engine step decodes one token for every running request; the step span links to
        # the requests in the batch (their request spans exist only when they finish, so the
        # link goes to the upstream context when there is one).
        with spanring.span("engine_step", attributes={"batch.size": len(self.running)}) as step:
            for r in self.running:
                if r.parent is not None:
                    step.add_link(r.parent, {"request.id": r.rid})
            await asyncio.sleep(0.002 + 0.0002 * len(self.running))  # the GPU's work
            now = time.time_ns()
            for r in list(self.running):
                r.tokens += 1
                r.token_times.append(now)
                if r.tokens == 1:
                    r.first_token_ns = now
                if r.tokens >= r.max_tokens or random.random() < 0.02:
                    r.finish_reason = "length" if r.tokens >= r.max_tokens else "stop"
                    r.finished_ns = now
                    self.running.remove(r)
                    finish(r)
                    r.done.set()


def finish(r):
    """Writes the request's spans from the times measured along the way."""
    root = spanring.start_span(f"chat {MODEL}", kind=spanring.SpanKind.SERVER, parent=r.parent,
                               start_time_ns=r.arrival_ns, attributes={
                                   "gen_ai.operation.name": "chat",
                                   "gen_ai.provider.name": "spanring-example",
                                   "gen_ai.request.model": MODEL,
                                   "gen_ai.request.max_tokens": r.max_tokens,
                                   "request.id": r.rid,
                               })
    root.set_attribute("gen_ai.usage.input_tokens", r.prompt_tokens)
    root.set_attribute("gen_ai.usage.output_tokens", r.tokens)
    root.set_attribute("gen_ai.response.finish_reasons", [r.finish_reason])
    root.set_attribute("gen_ai.response.time_to_first_chunk", (r.first_token_ns - r.arrival_ns) / 1e9)
    root.add_event("first_token", time_ns=r.first_token_ns)
    spanring.start_span("queued", parent=root, start_time_ns=r.arrival_ns).end(end_time_ns=r.scheduled_ns)
    spanring.start_span("prefill", parent=root, start_time_ns=r.scheduled_ns,
                        attributes={"prefill.tokens": r.prompt_tokens}).end(end_time_ns=r.first_token_ns)
    decode = spanring.start_span("decode", parent=root, start_time_ns=r.first_token_ns)
    for k in range(8, len(r.token_times), 8):
        decode.add_event("tokens", {"count": k}, time_ns=r.token_times[k])
    decode.end(end_time_ns=r.finished_ns)
    with spanring.use_span(root):  # current for the log line (`with root:` would end it now)
        log.info("request %s finished: %d tokens, %s", r.rid, r.tokens, r.finish_reason)
    root.end(end_time_ns=r.finished_ns)


async def client(engine, rid):
    headers = {}
    if random.random() < 0.5:  # from an upstream gateway
        headers["traceparent"] = f"00-{random.getrandbits(128):032x}-{random.getrandbits(64):016x}-01"
    r = Request(f"req-{rid}", random.randint(16, 512), random.randint(8, 64), headers)
    await engine.queue.put(r)
    await r.done.wait()


async def main(requests, max_batch):
    engine = Engine(max_batch)
    stepper = asyncio.create_task(engine.step_loop())
    clients = []
    for i in range(requests):
        clients.append(asyncio.create_task(client(engine, i)))
        await asyncio.sleep(random.expovariate(200))
    await asyncio.gather(*clients)
    stepper.cancel()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--max-batch", type=int, default=8)
    args = p.parse_args()
    handler = logging.StreamHandler()
    handler.addFilter(spanring.LogFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s trace_id=%(trace_id)s span_id=%(span_id)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # OTEL_SERVICE_NAME, else llm-server-py. Never raises: a failure is logged, tracing is off.
    spanring.init(service_name=None if os.environ.get("OTEL_SERVICE_NAME") else "llm-server-py")
    try:
        asyncio.run(main(args.requests, args.max_batch))
    finally:
        spanring.shutdown()

"""spanring for Python: spans written lock-free into shared memory, exported by spanring-agent.

    import spanring
    spanring.init(service_name="llm-server")          # or OTEL_SERVICE_NAME; never raises

    with spanring.span("llm_request", kind=spanring.SpanKind.SERVER,
                       attributes={"gen_ai.request.model": "llama-3-8b"}) as s:
        s.set_attribute("gen_ai.usage.output_tokens", 42)
        s.set_attribute("gen_ai.response.finish_reasons", ["stop"])

The current span lives in a :mod:`contextvars` variable, so each asyncio task and each thread
has its own. Every call is a cheap no-op while tracing is off (init not called, failed, or
``OTEL_SDK_DISABLED=true``). The hot path (``span``, ``set_attribute``, ``end``) is C; this
module adds the parts that are not per span.

Fork: a child made by ``os.fork()`` (or multiprocessing's ``fork`` start method) re-initialises
automatically with the parent's settings, into its own segment; spans the parent had open are
not written by the child. A ``spawn`` child is a new interpreter: it calls :func:`init` itself.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import inspect
import logging
import os
import threading
import traceback
from typing import Any, Callable, Mapping, MutableMapping, Optional, Tuple

from . import _spanring
from ._spanring import Span, SpanContext, counters, current_span, current_ids, enabled

__all__ = [
    "init", "shutdown", "enabled", "span", "start_span", "traced", "Span", "SpanContext", "SpanKind",
    "StatusCode", "current_span", "current_ids", "use_span", "extract", "inject", "LogFilter", "counters",
]

_log = logging.getLogger("spanring")


class SpanKind(enum.IntEnum):
    """OpenTelemetry span kinds (the values are OTLP's)."""
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(enum.IntEnum):
    """OpenTelemetry status codes (the values are OTLP's)."""
    UNSET = 0
    OK = 1
    ERROR = 2


#: Starts a span; see :func:`spanring._spanring.span` (the C function, for speed).
span = _spanring.span
#: The same function: a span that outlives a block is started here and ended with ``end()``.
start_span = _spanring.span

_ACCESS = {None: 0, "0600": 3, "0660": 2}
_settings: Optional[dict] = None
_lock = threading.Lock()


def init(service_name: Optional[str] = None, resource: Optional[Mapping[str, str]] = None, *,
         shm_size: Optional[int] = None, rings: Optional[int] = None, access: Optional[str] = None,
         raise_on_error: bool = False) -> bool:
    """Creates this process's segment. Returns True when tracing is on.

    Settings left ``None`` come from the same variables as the C++ client: ``OTEL_SERVICE_NAME``,
    ``OTEL_RESOURCE_ATTRIBUTES`` (merged; ``resource`` wins per key), ``SPANRING_SHM_SIZE``,
    ``SPANRING_RINGS``, ``SPANRING_SHM_MODE`` / ``access`` ("0600" or "0660"),
    ``SPANRING_SHM_GROUP``, ``SPANRING_CLOCK``; ``OTEL_SDK_DISABLED=true`` turns tracing off.

    A failure (no /dev/shm, a bad setting, ...) is logged on the ``spanring`` logger and every
    later call is a cheap no-op: the engine keeps serving. ``raise_on_error=True`` raises
    ``RuntimeError`` instead. Calling init again while on is a no-op that returns True.
    """
    global _settings
    if access not in _ACCESS:
        message = f"spanring.init: access must be '0600' or '0660', got {access!r}"
        if raise_on_error:
            raise ValueError(message)
        _log.warning("%s; tracing is off", message)
        return False
    settings = dict(service_name=service_name, resource=dict(resource) if resource else None,
                    shm_size=int(shm_size or 0), rings=int(rings or 0), access=_ACCESS[access])
    with _lock:
        if _spanring.enabled():
            return True
        code, message = _spanring.init(**settings)
        if code == 0:
            _settings = settings
            if message:
                _log.warning("spanring: %s", message)
            return True
        _settings = None
        if code == 8:  # InitCode::kDisabled: OTEL_SDK_DISABLED=true, on purpose
            _log.info("spanring: tracing disabled (%s)", message or "OTEL_SDK_DISABLED")
            return False
        if raise_on_error:
            raise RuntimeError(f"spanring.init failed: {message}")
        _log.warning("spanring: init failed, tracing is off: %s", message)
        return False


def shutdown() -> None:
    """Marks the segment closed (the agent drains and removes it) and turns tracing off."""
    global _settings
    with _lock:
        _settings = None
        _spanring.shutdown()


def _after_fork_in_child() -> None:
    # The child's copy of the parent's tracer is off (the C library sees the pid change); spans
    # the parent had open belong to the parent. Re-initialise with the same settings: the child
    # gets its own segment, named with its own pid.
    global _lock
    _spanring._after_fork_in_child()
    _lock = threading.Lock()  # the parent's may have been held by another thread at fork()
    settings = _settings
    if settings is not None:
        code, message = _spanring.init(**settings)
        if code != 0:
            _log.warning("spanring: re-init after fork failed, tracing is off in pid %d: %s", os.getpid(), message)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _exception_info(exc: BaseException) -> Tuple[str, str, str]:
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ in ("builtins", "__main__") else f"{cls.__module__}.{cls.__qualname__}"
    return name, str(exc), "".join(traceback.format_exception(cls, exc, exc.__traceback__))


_spanring._set_exception_formatter(_exception_info)


def traced(name: Optional[str] = None, *, kind: int = SpanKind.INTERNAL,
           attributes: Optional[Mapping[str, Any]] = None) -> Callable:
    """Decorator: runs each call of the function (sync or ``async def``) in a span named ``name``
    (default: the function's qualified name). ``@traced`` without parentheses works too."""
    if callable(name):  # @traced
        return traced()(name)

    def decorate(fn: Callable) -> Callable:
        span_name = name or fn.__qualname__
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args, **kwargs):
                with _spanring.span(span_name, kind, attributes):
                    return await fn(*args, **kwargs)
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _spanring.span(span_name, kind, attributes):
                return fn(*args, **kwargs)
        return wrapper

    return decorate


@contextlib.contextmanager
def use_span(s: Span):
    """Makes ``s`` the current span for the block without ending it at the end of the block
    (``with s:`` ends it): e.g. to log inside a span that ends later at an explicit time."""
    token = _spanring.current_span_var.set(s)
    try:
        yield s
    finally:
        _spanring.current_span_var.reset(token)


def _header(headers: Mapping, name: str) -> Any:
    get = getattr(headers, "get", None)
    value = get(name) if get is not None else None
    if value is None:  # header names are case-insensitive; plain dicts are not
        for key in headers:
            if isinstance(key, (str, bytes)) and (key.decode("latin-1") if isinstance(key, bytes) else key).lower() == name:
                value = headers[key]
                break
    if isinstance(value, (list, tuple)):  # multi-value mappings: W3C joins them with ','
        value = ",".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in value) if value else None
    return value


def extract(headers: Mapping) -> Optional[SpanContext]:
    """The W3C context of incoming headers (``traceparent``, ``tracestate``; any mapping, names
    case-insensitive), to pass as ``parent=``; None when there is no valid traceparent (the span
    then starts a new trace). Invalid non-empty traceparents are counted by the tracer."""
    return _spanring.extract_values(_header(headers, "traceparent"), _header(headers, "tracestate"))


def inject(headers: MutableMapping, span: Optional[Span] = None) -> MutableMapping:
    """Writes ``traceparent`` (and ``tracestate`` when the span carries one, as W3C requires) of
    ``span`` (default: the current span) into ``headers``; does nothing without a recording
    span. Returns ``headers``."""
    s = span if span is not None else _spanring.current_span()
    if s is None or not s.is_recording():
        return headers
    headers["traceparent"] = s.traceparent
    state = s.tracestate
    if state:
        headers["tracestate"] = state
    return headers


class LogFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` (hex, '' outside a span) of the current span to each
    log record, for formats like ``"%(message)s trace_id=%(trace_id)s span_id=%(span_id)s"``."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _spanring.current_ids()
        record.trace_id, record.span_id = ids if ids is not None else ("", "")
        return True

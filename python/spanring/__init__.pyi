"""Type stubs of the spanring package (see __init__.py for the documentation)."""
import enum
import logging
from typing import Any, ContextManager, Callable, Iterable, Mapping, MutableMapping, Optional, Tuple, TypeVar, Union, overload

from ._spanring import AttributeValue, Attributes, Span as Span, SpanContext as SpanContext

F = TypeVar("F", bound=Callable[..., Any])

class SpanKind(enum.IntEnum):
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5

class StatusCode(enum.IntEnum):
    UNSET = 0
    OK = 1
    ERROR = 2

def init(service_name: Optional[str] = None, resource: Optional[Mapping[str, str]] = None, *,
         shm_size: Optional[int] = None, rings: Optional[int] = None, access: Optional[str] = None,
         raise_on_error: bool = False) -> bool: ...
def shutdown() -> None: ...
def enabled() -> bool: ...
def counters() -> dict: ...
def span(name: str, kind: int = ..., attributes: Optional[Attributes] = None, start_time_ns: Optional[int] = None,
         parent: Union[Span, SpanContext, None] = ..., links: Optional[Iterable[Union[Span, SpanContext]]] = None) -> Span:
    """Starts a span, a child of the current one (or of `parent`); use with `with`, or call end()."""
def start_span(name: str, kind: int = ..., attributes: Optional[Attributes] = None, start_time_ns: Optional[int] = None,
               parent: Union[Span, SpanContext, None] = ..., links: Optional[Iterable[Union[Span, SpanContext]]] = None) -> Span:
    """The same as span(), for spans that outlive a block: end them with end(end_time_ns=None)."""
@overload
def traced(name: F) -> F: ...
@overload
def traced(name: Optional[str] = None, *, kind: int = ..., attributes: Optional[Attributes] = None) -> Callable[[F], F]: ...
def current_span() -> Optional[Span]: ...
def use_span(s: Span) -> ContextManager[Span]:
    """Makes `s` current for a block without ending it."""
def current_ids() -> Optional[Tuple[str, str]]: ...
def extract(headers: Mapping[Any, Any]) -> Optional[SpanContext]: ...
def inject(headers: MutableMapping[str, str], span: Optional[Span] = None) -> MutableMapping[str, str]: ...

class LogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool: ...

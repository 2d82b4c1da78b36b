"""The adapter protocol, and the helpers adapters use to read provider JSON safely.

An adapter is a small state machine: it is fed the stream's SSE events one at a time
and answers with normalized :data:`~harness.stream.events.StreamEvent` values. It never sees
bytes, comments or sockets; the pipeline decodes the SSE, turns comments into
keep-alives, and stops feeding it after a terminal event.

Rules every adapter keeps:

1. ``feed`` returns the events caused by one provider event, in order. It raises
   :class:`~harness.errors.ProviderDataError` (and nothing else) when the event is
   malformed; the pipeline turns that into a ``parse_error``.
2. Exactly one terminal value ends the stream: :class:`~harness.stream.events.Done` or
   :class:`~harness.stream.events.StreamError`, from ``feed`` or from ``finish``.
3. ``finish`` is called at the end of input. If no terminal value has been returned
   yet it returns one: ``Done`` if the stream is complete by the provider's rules,
   else a ``connection_closed`` error.
4. Unknown event types and unknown fields are ignored: providers add them without
   notice, and a gateway must keep working when they do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from harness import _json
from harness.errors import ProviderDataError
from harness.stream.events import StreamError, StreamEvent
from harness.stream.sse import ServerSentEvent

__all__ = [
    "JSONObject",
    "ProviderAdapter",
    "as_obj",
    "closed_early",
    "get_int",
    "get_list",
    "get_obj",
    "get_str",
    "load_json",
]

JSONObject = dict[str, Any]


class ProviderAdapter(Protocol):
    """Turns one provider's SSE events into normalized stream events."""

    #: The registry name, used in error chunks (``"openai"``, ``"anthropic"``...).
    name: str

    def feed(self, event: ServerSentEvent) -> Iterable[StreamEvent]:
        """Normalize one provider event.

        Raises:
            ProviderDataError: the event's data is not JSON where JSON is due, or a
                known field has the wrong type.
        """
        ...

    def finish(self) -> Iterable[StreamEvent]:
        """End of input: the terminal event, if ``feed`` has not returned one."""
        ...


def load_json(data: str) -> JSONObject:
    """Parse an event's data, which must be a JSON object."""
    try:
        value = _json.loads(data)
    except ValueError as exc:
        # Nesting too deep to parse included: malformed upstream data, not a crash.
        raise ProviderDataError(f"data is not valid JSON ({exc}): {_clip(data)}") from None
    if type(value) is not dict:
        raise ProviderDataError(f"data is JSON but not an object ({_kind(value)}): {_clip(data)}")
    return value


def get_obj(parent: JSONObject, key: str, where: str) -> JSONObject | None:
    """``parent[key]`` if it is an object; ``None`` if missing or null."""
    value = parent.get(key)
    if value is None or type(value) is dict:
        return value
    raise _wrong(where, key, "an object", value)


def get_list(parent: JSONObject, key: str, where: str) -> list[Any]:
    """``parent[key]`` if it is an array; ``[]`` if missing or null."""
    value = parent.get(key)
    if value is None:
        return []
    if type(value) is list:
        return value
    raise _wrong(where, key, "an array", value)


def get_str(parent: JSONObject, key: str, where: str) -> str | None:
    """``parent[key]`` if it is a string; ``None`` if missing or null."""
    value = parent.get(key)
    if value is None or type(value) is str:
        return value
    raise _wrong(where, key, "a string", value)


def get_int(parent: JSONObject, key: str, where: str) -> int | None:
    """``parent[key]`` if it is an integer (not a bool); ``None`` if missing or null.

    A float with an integral value (``12.0``) is accepted, as JSON does not
    distinguish them.
    """
    value = parent.get(key)
    if value is None or type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise _wrong(where, key, "an integer", value)


def as_obj(value: Any, where: str) -> JSONObject:
    """``value`` if it is an object, else a :class:`ProviderDataError` naming ``where``."""
    if type(value) is dict:
        return value
    raise ProviderDataError(f"{where}: expected an object, got {_kind(value)}")


def closed_early(provider: str, waiting_for: str) -> StreamError:
    """The ``connection_closed`` error for a stream that ended too soon."""
    return StreamError(
        kind="connection_closed",
        code="connection_closed",
        message=f"the stream ended before {waiting_for}: the response is incomplete",
        provider=provider,
    )


def _wrong(where: str, key: str, expected: str, value: Any) -> ProviderDataError:
    path = f"{where}.{key}" if where else key
    return ProviderDataError(f"{path}: expected {expected}, got {_kind(value)}")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _clip(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")

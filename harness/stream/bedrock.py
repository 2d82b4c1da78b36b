"""Bedrock's framing of an Anthropic stream (``InvokeModelWithResponseStream``). Pure.

Bedrock does not send Anthropic's SSE: each event becomes one AWS event-stream
message (:mod:`harness.stream.eventstream`), as botocore's ``ResponseStream`` union
declares it (bedrock-runtime ``service-2.json``):

* an event: ``:event-type chunk``, ``:content-type application/json``,
  ``:message-type event``, payload ``{"bytes": "<base64 of the event's data>"}``
  (botocore decodes the blob; ``AnthropicBedrock`` reads the JSON event in it);
* an Anthropic ``error`` event: an exception message, ``:exception-type`` one of the
  union's exceptions (:data:`EXCEPTION_TYPES`, ``modelStreamErrorException`` for any
  other error type), payload ``{"message": ...}``;
* SSE comments (keep-alives): dropped, Bedrock sends none.

:class:`BedrockFramer` is incremental: fed the SSE bytes in any split, it returns the
messages of the events they complete.
"""

from __future__ import annotations

import base64
from typing import Any

from harness import _json
from harness.stream.eventstream import encode, event_message, exception_message
from harness.stream.sse import ServerSentEvent, SSEDecoder

__all__ = ["EXCEPTION_TYPES", "BedrockFramer", "bedrock_message"]

#: The in-stream exception for each Anthropic error type (the members of botocore's
#: ``ResponseStream``); any other type is a ``modelStreamErrorException``.
EXCEPTION_TYPES: dict[str, str] = {
    "rate_limit_error": "throttlingException",
    "overloaded_error": "serviceUnavailableException",
    "api_error": "internalServerException",
    "invalid_request_error": "validationException",
    "timeout_error": "modelTimeoutException",
}


def bedrock_message(event: ServerSentEvent) -> bytes:
    """The event-stream message Bedrock sends for one Anthropic SSE event."""
    data: Any = None
    if event.event == "error" or '"error"' in event.data:
        try:
            data = _json.loads(event.data)
        except ValueError:
            data = None
    if isinstance(data, dict) and data.get("type") == "error":
        error = data.get("error")
        error = error if isinstance(error, dict) else {}
        kind = error.get("type")
        message = error.get("message")
        exception = EXCEPTION_TYPES.get(str(kind), "modelStreamErrorException")
        payload = {"message": message if isinstance(message, str) else str(kind)}
        return encode(exception_message(exception, _json.dumps(payload).encode()))
    blob = base64.b64encode(event.data.encode("utf-8", "surrogatepass")).decode("ascii")
    return encode(event_message("chunk", _json.dumps({"bytes": blob}).encode()))


class BedrockFramer:
    """Anthropic SSE bytes in, Bedrock event-stream messages out (``b""``: nothing yet)."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = SSEDecoder()

    def feed(self, data: bytes) -> bytes:
        return b"".join(bedrock_message(event) for event in self._decoder.feed(data))

    def finish(self) -> bytes:
        """End of stream: an event cut off before its blank line is dropped."""
        self._decoder.flush()
        return b""

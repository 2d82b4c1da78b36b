"""``boto3-converse``: boto3's ``bedrock-runtime`` ``converse_stream``."""

from __future__ import annotations

import importlib
from typing import Any

from harness.conformance.clients._common import CONVERSE_STOP, Calls, chat_usage, transport_error
from harness.conformance.clients.base import Call, Client, require
from harness.conformance.outcome import Outcome, OutcomeError

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def client() -> Client:
    """The ``boto3-converse`` client (needs the ``boto3`` package)."""
    require("boto3", "boto3", "boto3-converse")
    return Client(
        name="boto3-converse",
        family="bedrock-converse",
        distribution="boto3",
        run=run,
        description="boto3: client('bedrock-runtime').converse_stream()",
    )


def run(call: Call) -> Outcome:
    """One Converse stream, read event by event."""
    boto3: Any = importlib.import_module("boto3")
    config: Any = importlib.import_module("botocore.config")
    exceptions: Any = importlib.import_module("botocore.exceptions")

    outcome, calls = Outcome(), Calls()
    sdk = boto3.client(
        "bedrock-runtime",
        endpoint_url=call.base_url,
        region_name="us-east-1",
        aws_access_key_id="AKIAHARNESSFAKE00000",
        aws_secret_access_key="harness",
        config=config.Config(
            retries={"total_max_attempts": call.retries + 1, "mode": "standard"},
            read_timeout=call.timeout,
            connect_timeout=call.timeout,
        ),
    )
    stream = None
    try:
        response = sdk.converse_stream(
            modelId=MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}]
        )
        stream = response["stream"]
        for event in stream:
            take_event(outcome, calls, event)
    except exceptions.ClientError as exc:  # HTTP error, or exception message (EventStreamError)
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        outcome.error = OutcomeError(
            status=status if isinstance(status, int) and status >= 400 else None,
            code=error.get("Code"),
        )
    except Exception as exc:  # a cut leaks urllib3's ProtocolError, unwrapped
        outcome.error = transport_error(exc)
        if outcome.error is None:
            raise
    finally:
        if stream is not None:
            stream.close()
        sdk.close()
    outcome.tool_calls = calls.tool_calls()
    return outcome


def take_event(outcome: Outcome, calls: Calls, event: dict[str, Any]) -> None:
    """Fold one ``ConverseStreamOutput`` event into ``outcome``."""
    for kind, body in event.items():
        if kind == "contentBlockStart" and "toolUse" in body["start"]:
            calls.add(body["contentBlockIndex"], body["start"]["toolUse"]["name"])
        elif kind == "contentBlockDelta":
            delta = body["delta"]
            outcome.text += delta.get("text", "")
            outcome.reasoning += delta.get("reasoningContent", {}).get("text", "")
            if "toolUse" in delta:
                calls.add(body["contentBlockIndex"], arguments=delta["toolUse"]["input"])
        elif kind == "messageStop":
            outcome.finish_reason = CONVERSE_STOP.get(body["stopReason"])
        elif kind == "metadata" and "usage" in body:
            usage = body["usage"]
            cached = usage.get("cacheReadInputTokens", 0) + usage.get("cacheWriteInputTokens", 0)
            outcome.usage = chat_usage(
                usage["inputTokens"] + cached, usage["outputTokens"], usage["totalTokens"]
            )

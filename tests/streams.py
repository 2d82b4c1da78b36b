"""Builders for provider streams in their documented wire shapes (test data we write).

Shapes follow the providers' streaming documentation: OpenAI Chat Completions chunks,
Anthropic Messages events, Gemini ``streamGenerateContent?alt=sse`` responses, OpenAI
Responses events (``POST /v1/responses``).
"""

from __future__ import annotations

import json
from typing import Any

from harness.stream.sse import ServerSentEvent, SSEDecoder


def sse(data: Any, event: str | None = None, *, eol: str = "\n") -> bytes:
    """One SSE message; a non-string ``data`` is written as compact JSON."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}{eol}" if event else ""
    return f"{head}data: {text}{eol}{eol}".encode()


# --- OpenAI ------------------------------------------------------------------------


def oa_chunk(
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    *,
    choices: list[dict[str, Any]] | None = None,
    usage: dict[str, Any] | None = None,
    id: str = "chatcmpl-abc123",
    model: str = "gpt-4o-mini-2024-07-18",
    created: int = 1731000000,
    **extra: Any,
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` with one choice (or the given ``choices``)."""
    if choices is None:
        choices = [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}]
    chunk: dict[str, Any] = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_0ba0d124f1",
        "choices": choices,
    }
    if usage is not None:
        chunk["usage"] = usage
    chunk.update(extra)
    return chunk


def openai_stream(*chunks: dict[str, Any], done: bool = True) -> bytes:
    """``data:`` events for the chunks, then ``data: [DONE]``."""
    body = b"".join(sse(c) for c in chunks)
    return body + (sse("[DONE]") if done else b"")


def openai_text(*pieces: str, usage: dict[str, Any] | None = None) -> bytes:
    """A plain text answer split into ``pieces``, with an optional usage-only chunk."""
    chunks = [oa_chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [oa_chunk({"content": p}) for p in pieces]
    chunks.append(oa_chunk({}, "stop"))
    if usage is not None:
        chunks.append(oa_chunk(choices=[], usage=usage))
    return openai_stream(*chunks)


# --- Anthropic ---------------------------------------------------------------------


def an_event(kind: str, **fields: Any) -> bytes:
    return sse({"type": kind, **fields}, kind)


def an_message(input_tokens: int = 25, **usage: int) -> dict[str, Any]:
    """The ``message`` of ``message_start`` (a new dict each call: safe to mutate)."""
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1, **usage},
    }


def an_start(input_tokens: int = 25, **usage: int) -> bytes:
    return an_event("message_start", message=an_message(input_tokens, **usage))


def an_text_block(index: int, *pieces: str) -> bytes:
    return (
        an_event("content_block_start", index=index, content_block={"type": "text", "text": ""})
        + b"".join(
            an_event("content_block_delta", index=index, delta={"type": "text_delta", "text": p})
            for p in pieces
        )
        + an_event("content_block_stop", index=index)
    )


def an_tool_block(index: int, id: str, name: str, *fragments: str) -> bytes:
    start = {"type": "tool_use", "id": id, "name": name, "input": {}}
    return (
        an_event("content_block_start", index=index, content_block=start)
        + b"".join(
            an_event(
                "content_block_delta",
                index=index,
                delta={"type": "input_json_delta", "partial_json": f},
            )
            for f in fragments
        )
        + an_event("content_block_stop", index=index)
    )


def an_thinking_block(index: int, *pieces: str) -> bytes:
    start = {"type": "thinking", "thinking": "", "signature": ""}
    deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces]
    deltas.append({"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"})
    return (
        an_event("content_block_start", index=index, content_block=start)
        + b"".join(an_event("content_block_delta", index=index, delta=d) for d in deltas)
        + an_event("content_block_stop", index=index)
    )


def an_end(stop_reason: str = "end_turn", output_tokens: int = 15) -> bytes:
    return an_event(
        "message_delta",
        delta={"stop_reason": stop_reason, "stop_sequence": None},
        usage={"output_tokens": output_tokens},
    ) + an_event("message_stop")


def anthropic_text(*pieces: str) -> bytes:
    return an_start() + an_text_block(0, *pieces) + an_end()


# --- Gemini ------------------------------------------------------------------------


def gm_chunk(
    *parts: dict[str, Any],
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
    index: int = 0,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": index}
    if finish is not None:
        candidate["finishReason"] = finish
    chunk: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": "gemini-2.5-flash",
        "responseId": "mJ4aZ9yZLsOg1MkP-YmCuQ4",
    }
    if usage is not None:
        chunk["usageMetadata"] = usage
    return chunk


def gemini_stream(*chunks: dict[str, Any]) -> bytes:
    # Gemini's SSE uses CRLF line ends.
    return b"".join(sse(c, eol="\r\n") for c in chunks)


GM_USAGE = {"promptTokenCount": 8, "candidatesTokenCount": 4, "totalTokenCount": 12}


# --- OpenAI Responses ---------------------------------------------------------------

RS_ID = "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41"
RS_MODEL = "gpt-4.1-2025-04-14"
RS_CREATED = 1741476777
RS_USAGE = {
    "input_tokens": 36,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 87,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 123,
}


def rs_response(
    status: str = "in_progress",
    *,
    usage: dict[str, Any] | None = None,
    incomplete: str | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``response`` object of the lifecycle events (a new dict each call)."""
    return {
        "id": RS_ID,
        "object": "response",
        "created_at": RS_CREATED,
        "status": status,
        "error": error,
        "incomplete_details": None if incomplete is None else {"reason": incomplete},
        "instructions": None,
        "max_output_tokens": None,
        "model": RS_MODEL,
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def rs_start() -> list[dict[str, Any]]:
    """``response.created`` and ``response.in_progress``."""
    return [
        {"type": "response.created", "response": rs_response()},
        {"type": "response.in_progress", "response": rs_response()},
    ]


def rs_message(
    output_index: int, *pieces: str, item_id: str = "msg_67ccd3acc8d48190"
) -> list[dict[str, Any]]:
    """An assistant message output item whose text arrives in ``pieces``."""
    at = {"item_id": item_id, "output_index": output_index}
    part = {"type": "output_text", "text": "", "annotations": []}
    item = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant"}
    text = "".join(pieces)
    done_part = {**part, "text": text}
    return [
        {
            "type": "response.output_item.added",
            "output_index": output_index,
            "item": {**item, "content": []},
        },
        {"type": "response.content_part.added", **at, "content_index": 0, "part": part},
        *(
            {
                "type": "response.output_text.delta",
                **at,
                "content_index": 0,
                "delta": p,
                "logprobs": [],
            }
            for p in pieces
        ),
        {
            "type": "response.output_text.done",
            **at,
            "content_index": 0,
            "text": text,
            "logprobs": [],
        },
        {"type": "response.content_part.done", **at, "content_index": 0, "part": done_part},
        {
            "type": "response.output_item.done",
            "output_index": output_index,
            "item": {**item, "status": "completed", "content": [done_part]},
        },
    ]


def rs_reasoning(
    output_index: int, *parts: list[str], item_id: str = "rs_6876cf02e0bc8192"
) -> list[dict[str, Any]]:
    """A reasoning output item with one summary part per list of text pieces."""
    at = {"item_id": item_id, "output_index": output_index}
    events: list[dict[str, Any]] = [
        {
            "type": "response.output_item.added",
            "output_index": output_index,
            "item": {"id": item_id, "type": "reasoning", "summary": []},
        },
    ]
    summary = []
    for n, pieces in enumerate(parts):
        text = "".join(pieces)
        empty = {"type": "summary_text", "text": ""}
        events.append(
            {
                "type": "response.reasoning_summary_part.added",
                **at,
                "summary_index": n,
                "part": empty,
            }
        )
        events += [
            {"type": "response.reasoning_summary_text.delta", **at, "summary_index": n, "delta": p}
            for p in pieces
        ]
        events += [
            {
                "type": "response.reasoning_summary_text.done",
                **at,
                "summary_index": n,
                "text": text,
            },
            {
                "type": "response.reasoning_summary_part.done",
                **at,
                "summary_index": n,
                "part": {**empty, "text": text},
            },
        ]
        summary.append({"type": "summary_text", "text": text})
    events.append(
        {
            "type": "response.output_item.done",
            "output_index": output_index,
            "item": {"id": item_id, "type": "reasoning", "summary": summary},
        }
    )
    return events


def rs_call(item_id: str, call_id: str, name: str, arguments: str = "") -> dict[str, Any]:
    """A ``function_call`` output item (``arguments`` empty while in progress)."""
    return {
        "id": item_id,
        "type": "function_call",
        "status": "in_progress" if not arguments else "completed",
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def rs_call_added(output_index: int, item_id: str, call_id: str, name: str) -> dict[str, Any]:
    return {
        "type": "response.output_item.added",
        "output_index": output_index,
        "item": rs_call(item_id, call_id, name),
    }


def rs_args(output_index: int, item_id: str, fragment: str) -> dict[str, Any]:
    return {
        "type": "response.function_call_arguments.delta",
        "item_id": item_id,
        "output_index": output_index,
        "delta": fragment,
    }


def rs_call_done(
    output_index: int, item_id: str, call_id: str, name: str, arguments: str
) -> list[dict[str, Any]]:
    """``function_call_arguments.done`` and ``output_item.done`` of one call."""
    return [
        {
            "type": "response.function_call_arguments.done",
            "item_id": item_id,
            "output_index": output_index,
            "name": name,
            "arguments": arguments,
        },
        {
            "type": "response.output_item.done",
            "output_index": output_index,
            "item": rs_call(item_id, call_id, name, arguments),
        },
    ]


def rs_completed(usage: dict[str, Any] | None = RS_USAGE) -> dict[str, Any]:
    return {"type": "response.completed", "response": rs_response("completed", usage=usage)}


def rs_incomplete(
    reason: str = "max_output_tokens", usage: dict[str, Any] | None = RS_USAGE
) -> dict[str, Any]:
    response = rs_response("incomplete", usage=usage, incomplete=reason)
    return {"type": "response.incomplete", "response": response}


def responses_events(*items: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events in order, each numbered (``sequence_number`` from 0) as the API does."""
    flat = [e for item in items for e in (item if isinstance(item, list) else [item])]
    return [{**event, "sequence_number": n} for n, event in enumerate(flat)]


def responses_stream(*items: dict[str, Any] | list[dict[str, Any]]) -> bytes:
    """``event: <type>`` + ``data:`` blocks of the numbered events."""
    return b"".join(sse(e, e["type"]) for e in responses_events(*items))


def responses_text(*pieces: str, usage: dict[str, Any] | None = RS_USAGE) -> bytes:
    """A plain text answer split into ``pieces``, completed with ``usage``."""
    return responses_stream(rs_start(), rs_message(0, *pieces), rs_completed(usage))


# --- Reading normalized output -------------------------------------------------------


def events_of(stream: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return decoder.feed(stream) + decoder.flush()


def chunks_of(stream: bytes) -> list[Any]:
    """The JSON data of every event of a normalized stream, ``"[DONE]"`` kept as text."""
    return [e.data if e.data == "[DONE]" else json.loads(e.data) for e in events_of(stream)]


def collect(stream: bytes) -> dict[str, Any]:
    """What an OpenAI client would assemble from a normalized stream."""
    text, reasoning, finish, usage, error, done = "", "", None, None, None, False
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks_of(stream):
        if chunk == "[DONE]":
            done = True
            continue
        if "error" in chunk:
            error = chunk["error"]
            continue
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            delta = choice["delta"]
            text += delta.get("content") or ""
            reasoning += delta.get("reasoning_content") or ""
            for call in delta.get("tool_calls", []):
                slot = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                slot["id"] += call.get("id") or ""
                fn = call.get("function", {})
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
            finish = choice["finish_reason"] or finish
    return {
        "text": text,
        "reasoning": reasoning,
        "tool_calls": [calls[i] for i in sorted(calls)],
        "finish_reason": finish,
        "usage": usage,
        "error": error,
        "done": done,
    }

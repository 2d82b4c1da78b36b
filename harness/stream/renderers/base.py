"""What every renderer shares: the stream's identity and the token estimate."""

from __future__ import annotations

from collections.abc import Callable

from harness.stream.events import Delta, Metadata, Usage

__all__ = [
    "DEFAULT_MODEL",
    "StreamMetadata",
    "StreamState",
    "TokenCounter",
    "estimate_tokens",
]

#: A tokenizer for the usage fallback: text in, token count out.
TokenCounter = Callable[[str], int]

#: The model reported when neither the provider nor the caller names one.
DEFAULT_MODEL = "unknown"


class StreamMetadata:
    """The id, model and creation time every output chunk carries.

    The first non-empty value a provider reports for each wins, so that every chunk
    of one stream carries the same ones (Azure's first chunk has an empty id and
    model; those are skipped). Once a chunk has been rendered with a fallback value,
    that value stays.
    """

    __slots__ = ("created", "id", "model")

    def __init__(self) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.created: int | None = None

    def update(self, meta: Metadata) -> None:
        """Take the values in ``meta`` that are non-empty and not known yet."""
        if self.id is None and meta.id:
            self.id = meta.id
        if self.model is None and meta.model:
            self.model = meta.model
        if self.created is None and meta.created:
            self.created = meta.created


def estimate_tokens(chars: int) -> int:
    """Deterministic token estimate for ``chars`` code points: ``ceil(chars / 4)``."""
    return -(-chars // 4)


class StreamState:
    """What the stream has produced so far, for the usage fallback.

    It keeps counts, not text, so memory stays flat on an endless stream.
    """

    __slots__ = ("chars", "counted_tokens", "deltas", "token_counter")

    def __init__(self, token_counter: TokenCounter | None = None) -> None:
        self.token_counter = token_counter
        #: Code points of text, reasoning, refusal, tool names and arguments.
        self.chars = 0
        #: Sum of ``token_counter`` over every fragment, when one is plugged in.
        self.counted_tokens = 0
        #: Deltas rendered so far.
        self.deltas = 0

    def add(self, delta: Delta) -> None:
        """Account for one delta."""
        self.deltas += 1
        for fragment in (delta.content, delta.reasoning_content, delta.refusal):
            if fragment:
                self._count(fragment)
        for call in delta.tool_calls:
            if call.name:
                self._count(call.name)
            if call.arguments:
                self._count(call.arguments)

    def _count(self, fragment: str) -> None:
        self.chars += len(fragment)
        if self.token_counter is not None:
            self.counted_tokens += self.token_counter(fragment)

    def estimated_usage(self, prompt_tokens: int | None) -> Usage:
        """The usage to report when the provider reported none: ``prompt_tokens`` (0 if
        unknown) and :meth:`completion_tokens`."""
        prompt = prompt_tokens or 0
        completion = self.completion_tokens()
        return Usage(prompt, completion, prompt + completion)

    def completion_tokens(self) -> int:
        """The completion token count: the plugged-in counter's sum, or the estimate."""
        if self.token_counter is not None:
            return self.counted_tokens
        return estimate_tokens(self.chars)

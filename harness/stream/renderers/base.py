"""What every renderer shares: the stream's identity and the token estimate."""

from __future__ import annotations

from collections.abc import Callable

from harness.stream.events import Metadata

__all__ = ["DEFAULT_MODEL", "StreamMetadata", "TokenCounter", "estimate_tokens"]

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

"""Text helpers: counts with the right plural, the right article, one rule for line ends."""

from __future__ import annotations

__all__ = ["article", "normalize_newlines", "plural"]


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``"1 file"``, ``"2 files"``; ``many`` for an irregular plural."""
    word = noun if count == 1 else (many or f"{noun}s")
    return f"{count} {word}"


def article(word: str) -> str:
    """``"an openai"``, ``"a gemini"``: the indefinite article that goes before ``word``
    (by its first letter, which is right for the names harness puts there)."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def normalize_newlines(text: str) -> str:
    """``text`` with every line end as ``\n``: CRLF, a lone CR and a lone LF are line
    ends (the SSE standard's rule, and the one scenario text and secret scanning use).

    Nothing else ends a line (``str.splitlines`` also cuts at U+2028, NEL, FF...).
    """
    return text.replace("\r\n", "\n").replace("\r", "\n")

"""Words in messages: counts with the right plural, and the right article."""

from __future__ import annotations

__all__ = ["article", "plural"]


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``"1 file"``, ``"2 files"``; ``many`` for an irregular plural."""
    word = noun if count == 1 else (many or f"{noun}s")
    return f"{count} {word}"


def article(word: str) -> str:
    """``"an openai"``, ``"a gemini"``: the indefinite article that goes before ``word``
    (by its first letter, which is right for the names harness puts there)."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"

"""Reading time: how long a person takes to read a text, from its word count."""

from __future__ import annotations


def count_words(text: str) -> int:
    """Words in `text`, in any script: runs between spaces that hold a letter or a digit (a
    dash or an ellipsis alone is not a word)."""
    return sum(1 for token in text.split() if any(c.isalnum() for c in token))


def reading_minutes(text: str, words_per_minute: int) -> float:
    """Minutes to read `text` at `words_per_minute`, to a tenth (0.0 for no words; at least
    0.1 for any)."""
    words = count_words(text)
    if not words:
        return 0.0
    return max(0.1, round(words / words_per_minute, 1))

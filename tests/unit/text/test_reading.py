"""Reading time: words counted in any script, minutes to a tenth."""

import pytest

from service.text.reading import count_words, reading_minutes


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", 0),
        ("  ... — !", 0),
        ("The vote is on Sunday.", 5),
        ("Council's well-known plan, 2024.", 4),
        ("صوّت المجلس على الجسر", 4),
        ("a_b", 1),
        ("l’accord - signé", 2),
    ],
)
def test_words(text: str, words: int) -> None:
    assert count_words(text) == words


@pytest.mark.parametrize(
    ("words", "wpm", "minutes"),
    [
        (0, 200, 0.0),
        (1, 200, 0.1),
        (200, 200, 1.0),
        (300, 200, 1.5),
        (199, 200, 1.0),
        (460, 230, 2.0),
    ],
)
def test_minutes(words: int, wpm: int, minutes: float) -> None:
    assert reading_minutes(" ".join(["word"] * words), wpm) == minutes

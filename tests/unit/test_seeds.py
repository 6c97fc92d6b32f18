"""The sample articles in seeds/ cover the cases the README and benchmarks rely on."""

import re
from pathlib import Path

import pytest

from service.inference.registry import SUMMARIZE
from service.tasks import chunk_for_model
from service.text import split_paragraphs

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
NAMES = ("qusayr-article.txt", "short-brief.txt", "long-report.txt", "many-paragraphs.txt")


def _read(name: str) -> str:
    return (SEEDS / name).read_bytes().decode("utf-8")


@pytest.mark.parametrize("name", NAMES)
def test_seed_is_non_empty_utf8_text(name: str) -> None:
    text = _read(name)

    assert text.strip()
    assert "\ufffd" not in text and "\x00" not in text


def test_short_brief_is_one_paragraph() -> None:
    text = _read("short-brief.txt").strip()

    assert "\n" not in text
    assert 60 <= len(text.split()) <= 100


def test_long_report_is_longer_than_the_summariser_input(engine) -> None:
    text = _read("long-report.txt")
    model = engine.model(SUMMARIZE)

    assert len(text.split()) > 1500
    assert model.count_tokens([text])[0] > model.max_input_tokens
    assert len(chunk_for_model(model, text)) > 1


def test_long_report_has_the_abbreviations_a_sentence_splitter_can_trip_on() -> None:
    text = _read("long-report.txt")

    for abbreviation in ("U.S.", "Dr.", "D.C.", "p.m.", "Pa."):
        assert abbreviation in text
    assert any(word[0].isdigit() and "." in word.rstrip(".") for word in text.split())


def test_many_paragraphs_has_seventeen_paragraphs_separated_by_blank_lines() -> None:
    text = _read("many-paragraphs.txt")
    blocks = re.split(r"\n[ \t]*\n", text.strip())
    paragraphs = [p for p in split_paragraphs(text)[::2] if p.strip()]

    assert len(blocks) == 17
    assert paragraphs == [block.strip() for block in blocks]

"""The inputs every stage of the benchmark sends: short English sentences and short articles.

Built from the demo models' own training text, so the locally trained tokenizers split them the
way they would split text they were trained on. Pure functions, deterministic.
"""

from __future__ import annotations

from service.demo_models import TRAINING_TEXT
from service.text import split_sentences


def sentences(words: int) -> list[str]:
    """Each training sentence cut to its first `words` words, ending with a full stop.

    Cut sentences stay single sentences for the service's splitter, so one HTTP request is one
    engine item, as one `Engine.submit` is.
    """
    cut = []
    for paragraph in TRAINING_TEXT["en"]:
        for sentence in split_sentences(paragraph):
            text = " ".join(sentence.split()[:words]).rstrip(".,;:")
            cut.append(text + ".")
    return cut


def article(paragraphs: int) -> str:
    """The first `paragraphs` training paragraphs joined as one article."""
    return "\n\n".join(TRAINING_TEXT["en"][:paragraphs])

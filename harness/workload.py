"""The texts the benchmarks send, all cut from the demo models' own training text.

The demo tokenizers were trained on `TRAINING_TEXT`, so they split these texts the way they would
split text they were trained on. Pure functions, deterministic.
"""

from __future__ import annotations

import re

from service.ops.demo_models import TRAINING_TEXT
from service.text import split_sentences

WORDS = 10  # per benchmark sentence: 24-34 tokens for the Marian tokenizer
_VOCABULARY = re.findall(r"[a-z]+", " ".join(TRAINING_TEXT["en"]).lower())


def sentences(words: int = WORDS) -> list[str]:
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


def text(words: int, offset: int = 0) -> str:
    """One sentence of `words` training words without punctuation; `offset` varies the words."""
    chosen = (_VOCABULARY[(offset + i) % len(_VOCABULARY)] for i in range(words))
    return " ".join(chosen).capitalize() + "."

"""The benchmarks' models, all built by `service.ops.demo_models` with random weights.

`tiny_models` are the test suite's tiny ones, for checks that count and compare but do not time.
`prepare_models` builds the real-architecture ones (opus-mt-en-fr and distilbart-cnn-12-6 shapes)
once, under bench/out/models, for timings. Their build's generation config is kept as
`generation_config.demo.json`; `pin_generation` writes `generation_config.json` anew from it with
the output length pinned (`min_new_tokens == max_new_tokens`, greedy). Random weights would
otherwise stop at a random length; pinned, every item costs the same number of decoder steps, as
trained models on real text roughly do. The HTTP API has no `min_new_tokens` option, so the model
directory's own generation config is how the served model gets the same pinning.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.ops.demo_models import build_bart, build_demo_models, build_marian
from service.ops.demo_text import news_corpus

log = logging.getLogger(__name__)

PAIR = "en-fr"
# English news the real summariser's tokenizer is trained on.
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
_DEMO_CONFIG = "generation_config.demo.json"
_CONFIG = "generation_config.json"
# Settings the pinned config drops: length limits next to *_new_tokens make transformers warn on
# every generate call and blur which limit applies; the rest are beam-search-only.
_DROPPED = ("max_length", "min_length", "early_stopping", "length_penalty")


@dataclass(frozen=True)
class BenchModels:
    translate: Path
    summarize: Path


def _ensure(path: Path, build: Callable[[Path], Path]) -> Path:
    if not ((path / "model.safetensors").is_file() and (path / _DEMO_CONFIG).is_file()):
        log.info("building %s (real architecture, random weights)", path)
        build(path)
        (path / _DEMO_CONFIG).write_text((path / _CONFIG).read_text())
    return path.resolve()


def prepare_models(root: Path) -> BenchModels:
    """Build both models under `root`, or reuse the ones built by an earlier run."""
    root.mkdir(parents=True, exist_ok=True)
    return BenchModels(
        translate=_ensure(root / "marian-en-fr-real", lambda p: build_marian(p, arch="real")),
        summarize=prepare_summarizer(root),
    )


def prepare_translator(root: Path) -> Path:
    """Build only the real-shape en-fr translator under `root`, or reuse an earlier run's."""
    root.mkdir(parents=True, exist_ok=True)
    return _ensure(root / "marian-en-fr-real", lambda p: build_marian(p, arch="real"))


def prepare_summarizer(root: Path) -> Path:
    """Build only the real-shape summariser under `root`, or reuse an earlier run's."""
    root.mkdir(parents=True, exist_ok=True)
    return _ensure(
        root / "bart-real-bpe", lambda p: build_bart(p, arch="real", corpus=news_corpus(SEEDS))
    )


def pin_generation(path: Path, *, new_tokens: int) -> dict[str, Any]:
    """Write the model's generation_config.json: the demo defaults, greedy, length pinned."""
    config = json.loads((path / _DEMO_CONFIG).read_text())
    for key in _DROPPED:
        config.pop(key, None)
    config.update(min_new_tokens=new_tokens, max_new_tokens=new_tokens, num_beams=1)
    (path / _CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return config


def tiny_models(root: Path) -> dict[str, str]:
    """Build the tiny models under `root`; returns the settings (env vars) that serve them."""
    dirs = build_demo_models(root, arch="tiny")
    return {
        "SUMMARIZE_MODEL": str(dirs["summarize"]),
        "TRANSLATE_MODELS": f"en-fr={dirs['en-fr']},en-ar={dirs['en-ar']}",
    }

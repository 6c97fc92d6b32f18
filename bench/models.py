"""The benchmark's models: real-architecture random-weight models, built once and cached.

`service.demo_models` builds them (opus-mt-en-fr and distilbart-cnn-12-6 shapes). The build's own
generation config is kept as `generation_config.demo.json`; every run writes
`generation_config.json` anew from it with the output length pinned
(`min_new_tokens == max_new_tokens`) and the beam count asked for. Random weights would otherwise
stop at a random length; pinned, every item costs the same number of decoder steps, as trained
models on real text roughly do. The HTTP API has no `min_new_tokens` option, so the model
directory's own generation config is how the served model gets the same pinning.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.demo_models import build_bart, build_marian

log = logging.getLogger(__name__)

_DEMO_CONFIG = "generation_config.demo.json"
_CONFIG = "generation_config.json"
# Length settings the pinned config replaces: any of them next to *_new_tokens makes
# transformers warn on every generate call and blurs which limit applies.
_LENGTH_KEYS = ("max_length", "min_length")


@dataclass(frozen=True)
class BenchModels:
    translate: Path
    summarize: Path


def _built(path: Path) -> bool:
    return (path / "model.safetensors").is_file() and (path / _DEMO_CONFIG).is_file()


def _ensure(path: Path, build: Callable[[Path], Path]) -> Path:
    if not _built(path):
        log.info("building %s (real architecture, random weights)", path)
        build(path)
        (path / _DEMO_CONFIG).write_text((path / _CONFIG).read_text())
    return path


def pin_generation(path: Path, *, new_tokens: int, num_beams: int) -> dict[str, Any]:
    """Write the model's generation_config.json: the demo defaults with the length pinned."""
    config = json.loads((path / _DEMO_CONFIG).read_text())
    for key in _LENGTH_KEYS:
        config.pop(key, None)
    config.update(min_new_tokens=new_tokens, max_new_tokens=new_tokens, num_beams=num_beams)
    if num_beams == 1:
        # Beam-search-only settings; left in they make transformers warn on every call.
        config.pop("early_stopping", None)
        config.pop("length_penalty", None)
    (path / _CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return config


def prepare_models(
    root: Path, *, translate_tokens: int, summarize_tokens: int, num_beams: int
) -> BenchModels:
    """Build (or reuse) both models under `root` and pin their generation configs."""
    root.mkdir(parents=True, exist_ok=True)
    marian = _ensure(
        root / "marian-en-fr-real",
        lambda p: build_marian(p, arch="real", target_lang="fr"),
    )
    bart = _ensure(root / "bart-real", lambda p: build_bart(p, arch="real"))
    pin_generation(marian, new_tokens=translate_tokens, num_beams=num_beams)
    pin_generation(bart, new_tokens=summarize_tokens, num_beams=num_beams)
    return BenchModels(translate=marian.resolve(), summarize=bart.resolve())

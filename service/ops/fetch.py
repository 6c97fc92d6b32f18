"""Download the configured models from the Hugging Face Hub into a directory, once.

An image build or an air-gapped host runs `python -m service fetch-models` where the Hub is
reachable; the service then runs from the directory with HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from httpx2 import TransportError
from huggingface_hub import list_repo_files, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

from service.core.config import Settings
from service.core.errors import ModelLoadError
from service.inference.registry import SUMMARIZE, ModelSpec, model_specs, prepare_model

log = logging.getLogger(__name__)

# What from_pretrained needs for a seq2seq model and its tokenizer; no TF/Flax/Rust weights.
_WANTED = ["*.json", "*.txt", "*.model", "*.spm", "*.safetensors", "pytorch_model.bin"]


@dataclass
class Fetched:
    """Where each model went; `env_lines()` gives the settings that point the service there."""

    paths: dict[str, Path] = field(default_factory=dict)

    def env_lines(self) -> list[str]:
        lines = []
        if SUMMARIZE in self.paths:
            lines.append(f"SUMMARIZE_MODEL={self.paths[SUMMARIZE]}")
        pairs = [f"{key}={path}" for key, path in self.paths.items() if key != SUMMARIZE]
        if pairs:
            lines.append(f"TRANSLATE_MODELS={','.join(pairs)}")
        return lines


def _patterns(repo_id: str) -> list[str]:
    """Skip the .bin weights when the repo also has safetensors (same weights, twice the bytes)."""
    files = list_repo_files(repo_id)
    if any(name.endswith(".safetensors") for name in files):
        return [p for p in _WANTED if p != "pytorch_model.bin"]
    return _WANTED


def fetch_models(settings: Settings, dest: Path) -> Fetched:
    """Download every configured Hub model to `dest/KEY`; local directories are left as they are.
    With BACKEND=ctranslate2, also convert each model into CT2_CACHE_DIR for COMPUTE_TYPE on
    this machine's DEVICE, so that serving from the printed paths starts without converting.

    Raises ModelLoadError naming the model when the Hub cannot be reached or the id is wrong, or
    when a conversion fails.
    """
    fetched = Fetched()
    for spec in model_specs(settings):
        if Path(spec.source).expanduser().is_dir():
            fetched.paths[spec.key] = Path(spec.source)
            continue
        target = dest / spec.key
        log.info("fetching %s -> %s", spec.source, target)
        try:
            snapshot_download(spec.source, local_dir=target, allow_patterns=_patterns(spec.source))
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError, TransportError) as exc:
            # TransportError: what list_repo_files raises when the network is down.
            raise ModelLoadError(
                f"cannot download {spec.source!r} for {spec.key!r}: {str(exc).rstrip('.')}. "
                "Run this where the Hugging Face Hub is reachable, or copy the model "
                "directory here."
            ) from None
        fetched.paths[spec.key] = target
    if settings.backend != "transformers":
        _prepare(settings, model_specs(settings), fetched)
    return fetched


def _prepare(settings: Settings, specs: list[ModelSpec], fetched: Fetched) -> None:
    from service.inference.engine import resolve_placement

    _, placement = resolve_placement(settings)
    for spec in specs:
        local = ModelSpec(spec.key, spec.task, str(fetched.paths[spec.key]), prefix=spec.prefix)
        log.info("preparing %s for %s (%s)", local.source, settings.backend, placement.compute_type)
        prepare_model(local, placement, settings.backend)

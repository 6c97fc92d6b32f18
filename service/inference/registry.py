"""Which model serves which task or language pair, and loading one from the Hub or a directory.

A model is named by a Hub id (`Helsinki-NLP/opus-mt-en-fr`) or a local directory. Hub ids are
resolved through the Hugging Face cache (`HF_HOME`); with `HF_HUB_OFFLINE=1` only the cache is
read. A model that cannot be loaded is a `ModelLoadError` whose message names the model and the
fix, so start-up fails with one clear line instead of a stack trace.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import constants as hub_constants
from huggingface_hub import snapshot_download
from safetensors import SafetensorError
from transformers import AutoTokenizer
from transformers.utils import logging as transformers_logging

from service.core.config import Settings
from service.core.errors import ConfigError, ModelLoadError
from service.core.pairs import LanguagePair
from service.inference.backends import backend
from service.inference.seq2seq import Placement, Seq2SeqModel

log = logging.getLogger(__name__)

SUMMARIZE = "summarize"
TRANSLATE = "translate"

# from_pretrained patches torch globals while it builds a model (meta-device init), so two
# loads running at once in different worker threads break each other: load one at a time.
_LOAD_LOCK = threading.Lock()

_LANGUAGE_TOKEN_RE = re.compile(r"^>>\w+<<$")
_DEFAULT_PREFIXES = Settings.defaults().translate_prefixes
# See `_check_prefix`: the demo models hold two language tokens and need no prefix.
_MAX_TARGET_TOKENS_WITHOUT_PREFIX = 2
# How long the Hub probe waits (see `_hub_unreachable`).
_HUB_PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ModelSpec:
    """One configured model: the registry key requests use, its task, where it comes from."""

    key: str
    task: str
    source: str
    prefix: str = ""
    source_lang: str | None = None
    target_lang: str | None = None

    @property
    def name(self) -> str:
        """What answers call the model: its Hub id, or a local directory's last component, so
        no answer reveals where the server keeps its files."""
        return Path(self.source).name if _looks_like_path(self.source) else self.source


def model_specs(settings: Settings) -> list[ModelSpec]:
    """The models the settings ask for: the summariser, then one per translation pair.

    Raises ConfigError for a malformed pair name, a duplicate pair, or a prefix set for a pair
    that has no model (default prefixes for pairs not served are ignored).
    """
    specs = [ModelSpec(key=SUMMARIZE, task=SUMMARIZE, source=settings.summarize_model)]
    prefixes = dict(settings.translate_prefixes)
    seen: set[str] = set()
    for pair, source in settings.translate_models:
        try:
            languages = LanguagePair.parse(pair)
        except ValueError as exc:
            raise ConfigError(f"TRANSLATE_MODELS: {exc}") from None
        if pair in seen:
            raise ConfigError(f"TRANSLATE_MODELS: pair {pair!r} is given twice")
        if not source:
            raise ConfigError(f"TRANSLATE_MODELS: pair {pair!r} names no model")
        seen.add(pair)
        specs.append(
            ModelSpec(
                key=pair,
                task=TRANSLATE,
                source=source,
                prefix=prefixes.get(pair, ""),
                source_lang=languages.source,
                target_lang=languages.target,
            )
        )
    # The default prefixes name the default pairs; a deployment serving other pairs is not
    # wrong for leaving them in place. Prefixes someone set for a missing pair are a mistake.
    user_set = set(settings.translate_prefixes) - set(_DEFAULT_PREFIXES)
    unknown = sorted({pair for pair, _ in user_set} - seen)
    if unknown:
        raise ConfigError(f"TRANSLATE_PREFIXES names pairs with no model: {', '.join(unknown)}")
    return specs


def _looks_like_path(source: str) -> bool:
    """Whether `source` names a directory rather than a Hub id.

    Hub ids are `name` or `org/name`. So a source with more parts is a path, and so is
    `models/summarize` when `models/` is a local directory: after a failed fetch it is a
    missing directory, not a model to look for on the Hub.
    """
    if source.startswith((".", "/", "~")) or Path(source).exists():
        return True
    parts = source.split("/")
    return len(parts) > 2 or (len(parts) == 2 and Path(parts[0]).is_dir())


def _setting_of(spec: ModelSpec) -> str:
    return "SUMMARIZE_MODEL" if spec.task == SUMMARIZE else "TRANSLATE_MODELS"


def _hub_unreachable() -> str | None:
    """Why the Hub cannot be reached, or None when it answers (any status) or offline mode is on.

    Without a network, huggingface_hub retries each file with backoff for about a minute, and
    models load one at a time: start-up would hang for minutes before failing. One quick probe
    lets a model missing from the cache fail at once, and a cached one load from the cache.
    """
    if hub_constants.HF_HUB_OFFLINE:
        return None
    try:
        httpx2.head(hub_constants.ENDPOINT, timeout=_HUB_PROBE_TIMEOUT_S)
    except httpx2.TransportError as exc:
        return f"{type(exc).__name__}: {_first_line(exc)}"
    return None


def _location(spec: ModelSpec) -> str:
    """The directory or Hub id to load `spec` from; ModelLoadError for a directory that is not a
    model, or for a Hub id that is neither cached nor reachable. When the Hub cannot be reached,
    a cached model is loaded from its cache directory without asking the Hub."""
    source = spec.source
    fix = (
        "Fix: fetch it once with `python -m service fetch-models` on a machine that reaches "
        f"the Hub and copy it here, then set {_setting_of(spec)} to its directory."
    )
    if not _looks_like_path(source):
        unreachable = _hub_unreachable()
        if unreachable is None:
            return source
        try:
            return snapshot_download(source, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"model for {spec.key!r}: {source!r} is not in the local cache (HF_HOME) and the "
                f"Hub ({hub_constants.ENDPOINT}) cannot be reached ({unreachable}). {fix}"
            ) from exc
    path = Path(source).expanduser()
    if not path.is_dir():
        raise ModelLoadError(
            f"model for {spec.key!r}: directory {source!r} does not exist (looked for "
            f"{path.resolve()}). Fix: run `python -m service fetch-models` where the Hub is "
            f"reachable (it saves to MODELS_DIR), or set {_setting_of(spec)} to an existing "
            "model directory."
        )
    if not (path / "config.json").is_file():
        raise ModelLoadError(
            f"model for {spec.key!r}: directory {source!r} holds no model (no config.json). "
            "Run `python -m service fetch-models` again or point the setting at a complete "
            "model directory."
        )
    return str(path)


def _cannot_load(spec: ModelSpec, exc: BaseException) -> ModelLoadError:
    if _looks_like_path(spec.source):
        # A local directory: the Hub has nothing to do with it.
        return ModelLoadError(
            f"model for {spec.key!r}: cannot load directory {spec.source!r} "
            f"({_first_line(exc)}); its files are not a complete model this backend reads. "
            f"Build or fetch it again, or set {_setting_of(spec)} to another directory."
        )
    return ModelLoadError(
        f"model for {spec.key!r}: cannot load {spec.source!r} ({_first_line(exc)}). If the "
        "Hub is unreachable, fetch it once with `python -m service fetch-models` on a "
        "machine that can reach it, or set the model to a local directory; with "
        "HF_HUB_OFFLINE=1 only the local cache (HF_HOME) is used."
    )


# OSError: missing or offline; SafetensorError: truncated or corrupt weights; the others: a
# directory without a usable model.
_LOAD_ERRORS = (OSError, ValueError, TypeError, KeyError, SafetensorError)


def load_model(
    spec: ModelSpec, placement: Placement, backend_name: str = "transformers"
) -> Seq2SeqModel:
    """Load tokenizer and model for `spec` with the named backend, ready for inference.

    Raises ModelLoadError when the directory is missing, the Hub id is neither cached nor
    downloadable, or the files are unreadable (e.g. truncated weights), and when the prefix does
    not fit the tokenizer (see `_check_prefix`).
    """
    transformers_logging.disable_progress_bar()
    location = _location(spec)
    try:
        with _LOAD_LOCK:
            tokenizer = AutoTokenizer.from_pretrained(location)
    except _LOAD_ERRORS as exc:
        raise _cannot_load(spec, exc) from None
    _check_prefix(spec, tokenizer)
    try:
        with _LOAD_LOCK:
            loaded = backend(backend_name).load(spec, location, tokenizer, placement)
    except _LOAD_ERRORS as exc:
        raise _cannot_load(spec, exc) from None
    loaded.name = spec.name  # what answers call it: never a local path
    log.info(
        "loaded %s from %s with %s on %s (%s), max input %d tokens",
        spec.key,
        spec.source,
        backend_name,
        placement.device,
        loaded.compute_type,
        loaded.max_input_tokens,
    )
    return loaded


def prepare_model(
    spec: ModelSpec, placement: Placement, backend_name: str = "transformers"
) -> None:
    """Do ahead of serving what the backend can (CTranslate2: convert and cache the model)."""
    transformers_logging.disable_progress_bar()
    location = _location(spec)
    try:
        with _LOAD_LOCK:
            backend(backend_name).prepare(spec, location, placement)
    except _LOAD_ERRORS as exc:
        raise _cannot_load(spec, exc) from None


def _check_prefix(spec: ModelSpec, tokenizer: Any) -> None:
    """Refuse a prefix that cannot steer `tokenizer`'s model, since it would mistranslate silently.

    A `>>xxx<<` prefix the tokenizer does not know is an error. So is a translation pair without
    a prefix whose tokenizer has more than two `>>xxx<<` tokens: a multi-target Marian model
    (opus-mt-en-ar and opus-mt-en-zh have many) then picks a target language on its own. Up
    to two are let through because the demo models carry both `>>fra<<` and `>>ara<<` whatever
    their target, and serve en-fr without a prefix; a real two-target model is not caught.
    """
    if spec.prefix:
        if _LANGUAGE_TOKEN_RE.match(spec.prefix):
            ids = tokenizer.convert_tokens_to_ids([spec.prefix])
            if ids[0] is None or ids[0] == tokenizer.unk_token_id:
                raise ModelLoadError(
                    f"model for {spec.key!r}: its tokenizer does not know the prefix "
                    f"{spec.prefix!r}; set TRANSLATE_PREFIXES for this pair (`PAIR=` for none)."
                )
        return
    if spec.task != TRANSLATE:
        return
    targets = sorted(t for t in tokenizer.get_vocab() if _LANGUAGE_TOKEN_RE.match(t))
    if len(targets) > _MAX_TARGET_TOKENS_WITHOUT_PREFIX:
        shown = ", ".join(targets[:5]) + (", ..." if len(targets) > 5 else "")
        raise ModelLoadError(
            f"model for {spec.key!r}: {spec.source!r} is a multi-target model (target tokens "
            f"{shown}) but the pair has no prefix; set TRANSLATE_PREFIXES for it, e.g. "
            f"`{spec.key}=>>xxx<<` with one of those tokens."
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

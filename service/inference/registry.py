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

import torch
from safetensors import SafetensorError
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
from transformers.utils import logging as transformers_logging

from service.config import Settings
from service.errors import ConfigError, ModelLoadError
from service.inference.seq2seq import Seq2SeqModel

log = logging.getLogger(__name__)

SUMMARIZE = "summarize"
TRANSLATE = "translate"

# from_pretrained patches torch globals while it builds a model (meta-device init), so two
# loads running at once in different worker threads break each other: load one at a time.
_LOAD_LOCK = threading.Lock()

_PAIR_RE = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})$")
_LANGUAGE_TOKEN_RE = re.compile(r"^>>\w+<<$")
_DEFAULT_PREFIXES = Settings.defaults().translate_prefixes
# See `_check_prefix`: the demo models hold two language tokens and need no prefix.
_MAX_TARGET_TOKENS_WITHOUT_PREFIX = 2


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
        match = _PAIR_RE.match(pair)
        if not match:
            raise ConfigError(f"TRANSLATE_MODELS: pair {pair!r} is not SRC-TGT (e.g. en-fr)")
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
                source_lang=match.group(1),
                target_lang=match.group(2),
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
    return source.startswith((".", "/", "~")) or Path(source).exists()


def load_model(spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> Seq2SeqModel:
    """Load tokenizer and weights for `spec` onto `device` in `dtype`, ready for inference.

    Raises ModelLoadError when the directory is missing, the Hub id is neither cached nor
    downloadable, or the files are unreadable (e.g. truncated weights), and when the prefix does
    not fit the tokenizer (see `_check_prefix`).
    """
    transformers_logging.disable_progress_bar()
    source = spec.source
    if _looks_like_path(source):
        path = Path(source).expanduser()
        if not path.is_dir():
            raise ModelLoadError(
                f"model for {spec.key!r}: directory {source!r} does not exist. Run "
                f"`python -m service fetch-models` or point the setting at a model directory."
            )
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"model for {spec.key!r}: directory {source!r} holds no model (no config.json). "
                "Run `python -m service fetch-models` again or point the setting at a complete "
                "model directory."
            )
        source = str(path)
    try:
        with _LOAD_LOCK:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForSeq2SeqLM.from_pretrained(source, dtype=dtype)
    except (OSError, ValueError, TypeError, SafetensorError) as exc:
        # OSError: missing or offline; SafetensorError: truncated or corrupt weights; the others:
        # a directory without a usable model.
        raise ModelLoadError(
            f"model for {spec.key!r}: cannot load {spec.source!r} ({_first_line(exc)}). If the "
            "Hub is unreachable, fetch it once with `python -m service fetch-models` on a "
            "machine that can reach it, or set the model to a local directory; with "
            "HF_HUB_OFFLINE=1 only the local cache (HF_HOME) is used."
        ) from None
    _check_prefix(spec, tokenizer)
    model.to(device)
    model.eval()
    loaded = Seq2SeqModel(
        spec.key, spec.source, tokenizer, model, prefix=spec.prefix, name=spec.name
    )
    log.info(
        "loaded %s from %s on %s (%s), max input %d tokens",
        spec.key,
        spec.source,
        device,
        str(dtype).removeprefix("torch."),
        loaded.max_input_tokens,
    )
    return loaded


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

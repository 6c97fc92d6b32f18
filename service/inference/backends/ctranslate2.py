"""The CTranslate2 backend: the same models, converted once, run by CTranslate2's C++ decoder.

Models are still named by Hub id or directory. On first load the model is converted with
CTranslate2's `TransformersConverter` (quantised to the compute type) into `CT2_CACHE_DIR`, in a
directory keyed by the source, its revision (the Hub commit) or the hash of its files (a local
directory), and the compute type; later starts load the converted copy. `python -m service
fetch-models` converts ahead of time (`prepare`).

Tokenisation stays with the Hugging Face tokenizer: ids from `encode` are mapped to CTranslate2's
token strings through the converted vocabulary (the same tokens in the same order; Marian's
trailing `<pad>` is dropped by the converter and never appears in an input), and generated tokens
back to ids for the tokenizer to decode.

Generation follows the model's `generation_config` with transformers' meaning of each value (see
`decoding_options`), so float32 outputs equal the transformers backend's. CTranslate2 releases
the GIL while it decodes, so request threads keep running during a batch.

Batch invariance (`BATCH_BUCKET_TOKENS` > 0): CTranslate2 pads a batch to its longest input and
takes no attention mask, so a batch whose inputs are all shorter than their common padded length
gets one more source of exactly that length, a filler whose target is forced to end at once,
and its result is dropped. Under a minimum length (the summariser's default 56) it cannot end
there: it decodes on until it emits its end token or reaches the maximum, as any input does. Then
every input is computed at its padded length alone or co-batched. That makes outputs exact in
int8 on the CPU, whose integer matrix products do not depend on the batch; in float32 the
oneDNN/MKL kernels change with the batch size, so a rare near-tie can still flip (measured in
`python -m bench invariance`).

A batch nobody waits for stops early only in greedy search: CTranslate2's step callback exists
for `beam_size` 1 only. A beam-search batch runs to its end, bounded by its maximum length (the
batcher still drops abandoned items before a batch starts).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ctranslate2
from ctranslate2.converters import TransformersConverter
from huggingface_hub import snapshot_download
from huggingface_hub.errors import HfHubHTTPError
from transformers import AutoConfig, GenerationConfig

from service.core.errors import ConfigError, ModelLoadError
from service.inference.revision import MODEL_FILES, contents_hash
from service.inference.seq2seq import Generated, GenerationParams, Placement, Seq2SeqModel

if TYPE_CHECKING:
    import torch

    from service.inference.devices import HostCpu
    from service.inference.registry import ModelSpec

log = logging.getLogger(__name__)

NAME = "ctranslate2"


class Ct2OutOfMemory(RuntimeError):
    """CTranslate2 ran out of device memory for a batch (it raises a plain RuntimeError)."""


DEVICE_TYPES = ("cpu", "cuda")
OUT_OF_MEMORY: tuple[type[BaseException], ...] = (Ct2OutOfMemory,)

# What COMPUTE_TYPE=auto means per device: int8 is CTranslate2's fast path on CPU; float16 keeps
# GPU outputs as close to the transformers backend's as half precision allows.
_AUTO_COMPUTE_TYPE = {"cpu": "int8", "cuda": "float16"}
_SLUG_RE = re.compile(r"[^A-Za-z0-9._-]+")
# Bumped when the conversion itself changes, so older cached conversions are not reused.
_CONVERSION_VERSION = f"ct2-{ctranslate2.__version__}-1"


def compute_type(device: torch.device | HostCpu, dtype: torch.dtype | str, requested: str) -> str:
    """Resolve COMPUTE_TYPE for `device`: `auto` is int8 on CPU and float16 on CUDA.

    Raises ConfigError on a device CTranslate2 does not run on (MPS) or a compute type the
    device does not support (e.g. float16 on CPU).
    """
    if device.type not in _AUTO_COMPUTE_TYPE:
        raise ConfigError(
            f"BACKEND=ctranslate2 runs on CPU or CUDA, not {device.type}; set DEVICE=cpu or use "
            "BACKEND=transformers"
        )
    name = _AUTO_COMPUTE_TYPE[device.type] if requested == "auto" else requested
    supported = ctranslate2.get_supported_compute_types(device.type, device.index or 0)
    if name not in supported:
        raise ConfigError(
            f"COMPUTE_TYPE={requested}: CTranslate2 on {device} supports "
            f"{', '.join(sorted(supported))}"
        )
    return name


def _converter(path: Path) -> TransformersConverter:
    """CTranslate2's converter for `path`, filling in what its BART loader reads but transformers
    5 no longer keeps in a BART config: `normalize_before` (BART normalises after each block).
    Configs saved by older transformers carry it; ones built or saved since do not."""
    converter = TransformersConverter(str(path), low_cpu_mem_usage=True)
    load = converter.load_model

    def load_model(model_class: Any, name: str, **kwargs: Any) -> Any:
        model = load(model_class, name, **kwargs)
        if model.config.model_type == "bart" and not hasattr(model.config, "normalize_before"):
            model.config.normalize_before = False
        return model

    converter.load_model = load_model  # type: ignore[method-assign]
    return converter


def prepare(spec: ModelSpec, location: str, placement: Placement) -> None:
    """Convert the model into the cache now, so that serving starts without converting."""
    path, revision = _snapshot(location)
    _converted(spec.source, path, revision, placement)


def load(spec: ModelSpec, location: str, tokenizer: Any, placement: Placement) -> Seq2SeqModel:
    """Load the converted model (converting it first if the cache has none) onto the device."""
    path, revision = _snapshot(location)
    converted = _converted(spec.source, path, revision, placement)
    config = AutoConfig.from_pretrained(path)
    try:
        generation_config = GenerationConfig.from_pretrained(path)
    except OSError:  # no generation_config.json: transformers derives it from config.json
        generation_config = GenerationConfig.from_model_config(config)
    translator = ctranslate2.Translator(
        str(converted),
        device=placement.device.type,
        device_index=placement.device.index or 0,
        compute_type=placement.compute_type,
        intra_threads=placement.threads,
        inter_threads=1,
    )
    model = Ct2Model(
        spec.key,
        spec.source,
        tokenizer,
        config,
        generation_config,
        translator=translator,
        vocabulary=_vocabulary(converted),
        device=placement.device,
        compute_type=placement.compute_type,
        prefix=spec.prefix,
        bucket_tokens=placement.bucket_tokens,
    )
    model.revision = revision
    return model


class Ct2Model(Seq2SeqModel):
    """A converted model in a `ctranslate2.Translator` and its Hugging Face tokenizer."""

    backend = NAME

    def __init__(
        self,
        key: str,
        source: str,
        tokenizer: Any,
        config: Any,
        generation_config: Any,
        *,
        translator: ctranslate2.Translator,
        vocabulary: list[str],
        device: torch.device | HostCpu,
        compute_type: str,
        prefix: str = "",
        bucket_tokens: int = 0,
    ) -> None:
        super().__init__(
            key,
            source,
            tokenizer,
            config,
            generation_config,
            prefix=prefix,
            bucket_tokens=bucket_tokens,
        )
        self.translator = translator
        self._tokens = vocabulary
        self._ids = {token: i for i, token in enumerate(vocabulary)}
        self._device = device
        self._compute_type = compute_type

    @property
    def device(self) -> torch.device | HostCpu:
        return self._device

    @property
    def compute_type(self) -> str:
        return self._compute_type

    def decoding_options(self, params: GenerationParams) -> dict[str, Any]:
        """`translate_batch` options that do what transformers' `generate` does with the
        model's generation_config and `params`.

        Transformers counts the decoder start token in `max_length`/`min_length`; CTranslate2
        counts generated tokens (a target prefix included). A forced end token
        (`forced_eos_token_id`) takes the last position transformers allows, so one fewer token
        is decoded here. A forced first token (BART's `<s>`) is a target prefix. A model's banned
        tokens that the converted vocabulary still holds are suppressed.
        """
        config = self.generation_config
        values = {**{name: getattr(config, name, None) for name in _OPTION_NAMES}}
        values.update(params.overrides())
        if values["max_new_tokens"] is not None:
            longest = int(values["max_new_tokens"])
        else:
            longest = int(values["max_length"] or 20) - 1
        shortest = max(int(values["min_length"] or 0) - 1, int(values["min_new_tokens"] or 0), 0)
        if config.forced_eos_token_id is not None:
            longest -= 1
        longest = max(longest, 1)
        options: dict[str, Any] = {
            "beam_size": int(values["num_beams"] or 1),
            "max_decoding_length": longest,
            "min_decoding_length": min(shortest, longest),
            "length_penalty": float(values["length_penalty"] or 0.0)
            if values["length_penalty"] is not None
            else 1.0,
            "no_repeat_ngram_size": int(values["no_repeat_ngram_size"] or 0),
            "max_input_length": 0,  # never truncate: the tasks keep inputs within the limit
            "return_end_token": True,
        }
        banned = [
            [self._tokens[i] for i in ids]
            for ids in (config.bad_words_ids or [])
            if all(i < len(self._tokens) for i in ids)
        ]
        if banned:
            options["suppress_sequences"] = banned
        return options

    def _end_id(self) -> int:
        """The end token's id: the generation config's (the first of a list), else the
        tokenizer's."""
        end = self.generation_config.eos_token_id
        if isinstance(end, list):
            end = end[0] if end else None
        return int(end if end is not None else self.tokenizer.eos_token_id)

    def _target_prefix(self, size: int) -> list[list[str] | None] | None:
        forced = self.generation_config.forced_bos_token_id
        if forced is None:
            return None
        return [[self._tokens[forced]] for _ in range(size)]

    def generate(
        self,
        batch: list[list[int]],
        params: GenerationParams,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generated:
        """Inputs go in unpadded, each with its own length, plus a filler source when the batch
        must be padded beyond its longest input (see the module docstring). `should_stop` is
        polled at every step of greedy search only."""
        options = self.decoding_options(params)
        if should_stop is not None and options["beam_size"] == 1:
            options["callback"] = lambda step: should_stop()
        source = [[self._tokens[i] for i in ids] for ids in batch]
        target_prefix = self._target_prefix(len(batch))
        longest = max(len(ids) for ids in batch)
        padded = self.padded_length(longest)
        if padded > longest:
            end = self._tokens[self._end_id()]
            source.append([end] * padded)
            target_prefix = [*(target_prefix or [None] * len(batch)), [end]]
        try:
            results = self.translator.translate_batch(
                source, target_prefix=target_prefix, **options
            )[: len(batch)]
        except RuntimeError as exc:
            if "out of memory" in str(exc).lower():
                raise Ct2OutOfMemory(str(exc)) from exc
            raise
        sequences = [[self._ids[token] for token in result.hypotheses[0]] for result in results]
        # Transformers counts the end token it forces at the length limit; count it here too.
        forced_eos = self.generation_config.forced_eos_token_id
        new_tokens = sum(
            len(ids) + (forced_eos is not None and (not ids or ids[-1] != forced_eos))
            for ids in sequences
        )
        return Generated(self.decode(sequences), new_tokens)


# Generation settings `decoding_options` reads, by their transformers names.
_OPTION_NAMES = (
    "num_beams",
    "min_length",
    "max_length",
    "min_new_tokens",
    "max_new_tokens",
    "no_repeat_ngram_size",
    "length_penalty",
)


def _snapshot(location: str) -> tuple[Path, str]:
    """A local directory holding the model, and its revision: the Hub commit for a Hub id (the
    snapshot directory is named by it), else the hash of the model files' contents."""
    path = Path(location)
    if path.is_dir():
        return path, contents_hash(path)
    try:
        snapshot = Path(snapshot_download(location, allow_patterns=list(MODEL_FILES)))
    except HfHubHTTPError as exc:
        raise OSError(str(exc)) from None
    return snapshot, snapshot.name


def _converted(source: str, path: Path, revision: str, placement: Placement) -> Path:
    """The cached conversion of `path` for the placement's compute type, converting if needed.

    Conversion writes to a temporary directory renamed into place, so a crash leaves no half
    model and two processes converting at once both end with a complete one.
    """
    if placement.cache_dir is None:
        raise ValueError("CTranslate2 needs a cache directory (CT2_CACHE_DIR)")
    key = hashlib.sha256(f"{_CONVERSION_VERSION}\0{source}\0{revision}".encode()).hexdigest()
    slug = _SLUG_RE.sub("_", source.strip("/")).strip("_")[-60:]
    target = placement.cache_dir / f"{slug}-{key[:16]}-{placement.compute_type}"
    if (target / "model.bin").is_file():
        return target
    if not _pytorch_installed():
        raise ModelLoadError(
            f"{source!r} has no CTranslate2 conversion for {placement.compute_type} in "
            f"{placement.cache_dir}, and converting it needs PyTorch, which is not installed "
            "(the cpu-slim image): convert it ahead into CT2_CACHE_DIR with `python -m service "
            "fetch-models` where PyTorch is, e.g. in the cpu image"
        )
    placement.cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("converting %s for CTranslate2 (%s) into %s", source, placement.compute_type, target)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=placement.cache_dir))
    try:
        try:
            _converter(path).convert(
                str(work / "model"), quantization=placement.compute_type, force=True
            )
        except ValueError as exc:
            # What the model spec's checks raise on files that disagree with each other, e.g.
            # a tokenizer with fewer tokens than the model's vocab_size: the model is at fault.
            raise ModelLoadError(
                f"CTranslate2 cannot convert {source!r}: its files do not agree ({exc}); fix "
                "the model (its tokenizer must have as many tokens as config.json's vocab_size) "
                "or set BACKEND=transformers to serve it with PyTorch"
            ) from None
        except (AttributeError, NotImplementedError, RuntimeError) as exc:
            # What the converter raises on a model it does not handle: a start-up error with
            # the way out, not a traceback.
            raise ModelLoadError(
                f"CTranslate2 cannot convert {source!r} ({type(exc).__name__}: {exc}); set "
                "BACKEND=transformers to serve it with PyTorch"
            ) from None
        (work / "model" / "source.json").write_text(
            json.dumps({"source": source, "revision": revision}), encoding="utf-8"
        )
        try:
            os.rename(work / "model", target)
        except OSError:
            if not (target / "model.bin").is_file():  # not another process's finished copy
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _pytorch_installed() -> bool:
    """Whether PyTorch, which the converter needs, is installed (not in the cpu-slim image)."""
    return importlib.util.find_spec("torch") is not None


def _vocabulary(converted: Path) -> list[str]:
    """The converted target vocabulary (a seq2seq conversion shares it with the source)."""
    for name in ("shared_vocabulary.json", "target_vocabulary.json"):
        if (converted / name).is_file():
            return list(json.loads((converted / name).read_text(encoding="utf-8")))
    raise OSError(f"{converted} holds no vocabulary file")

"""What every backend's loaded model is: tokenise, generate a batch, decode.

`Seq2SeqModel` owns what the backends share: the Hugging Face tokenizer (both backends tokenise
with it, so token counts, chunking and prefixes are the same whatever runs the model), the token
limits and the generation defaults read from the model's `generation_config`. A backend subclass
(`backends/transformers.py`, `backends/ctranslate2.py`) adds only `generate` and where it runs.

`encode` and `count_tokens` are called from request threads (they hold a lock: fast tokenizers are
not safe to call concurrently). `generate` is called only by the model's batch worker, which owns
the model and its device.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch

    from service.inference.devices import HostCpu

# Above this, tokenizer.model_max_length is transformers' "no limit" sentinel.
_NO_LIMIT = 1_000_000

_DEFAULT_NAMES = (
    "num_beams",
    "min_length",
    "max_length",
    "no_repeat_ngram_size",
    "length_penalty",
    "early_stopping",
)


@dataclass(frozen=True)
class GenerationParams:
    """Per-request generation overrides; None keeps the model's generation_config value.

    Frozen and hashable: it is the batch key, so only items with equal params share a batch.
    """

    num_beams: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_new_tokens: int | None = None
    max_new_tokens: int | None = None

    def overrides(self) -> dict[str, int]:
        return {name: value for name, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class Generated:
    """Decoded outputs of one batch and how many tokens were generated in all (end tokens
    included, padding not)."""

    texts: list[str]
    new_tokens: int


@dataclass(frozen=True)
class Placement:
    """Where and how a backend runs its models, resolved once by the engine from the settings.

    `dtype` is what the transformers backend loads weights in (a torch dtype or its name, by
    default the name, so that no PyTorch is needed), `compute_type` what CTranslate2 computes in
    (for transformers, the dtype's name); `threads` the CPU threads in force (0 on an
    accelerator); `cache_dir` where CTranslate2 keeps converted models; `bucket_tokens` the
    batch-invariance bucket width (BATCH_BUCKET_TOKENS; 0: pad to the longest input).
    """

    device: torch.device | HostCpu
    dtype: torch.dtype | str = "float32"
    compute_type: str = "float32"
    threads: int = 0
    cache_dir: Path | None = None
    bucket_tokens: int = 0


class Seq2SeqModel(ABC):
    """A tokenizer and a seq2seq model on one device, run by one backend."""

    backend: ClassVar[str]

    def __init__(
        self,
        key: str,
        source: str,
        tokenizer: Any,
        config: Any,
        generation_config: Any,
        *,
        prefix: str = "",
        name: str | None = None,
        bucket_tokens: int = 0,
    ) -> None:
        self.key = key
        self.source = source
        # What answers call it (the source's public part); see ModelSpec.name.
        self.name = name or source
        self.tokenizer = tokenizer
        self.config = config
        self.generation_config = generation_config
        self.prefix = prefix if not prefix or prefix[-1].isspace() else prefix + " "
        self._encode_lock = threading.Lock()
        limits = [getattr(config, "max_position_embeddings", None)]
        if tokenizer.model_max_length and tokenizer.model_max_length < _NO_LIMIT:
            limits.append(tokenizer.model_max_length)
        self.max_input_tokens = min(limit for limit in limits if limit)
        self.max_output_tokens = int(getattr(config, "max_position_embeddings", 512))
        self.pad_token_id = self._pad_id()
        self.bucket_tokens = bucket_tokens
        # Which version of the model's files: the Hub commit or a contents hash (the backend's
        # `load` sets it); "" when unknown, and then nothing of it is cached.
        self.revision = ""

    @property
    @abstractmethod
    def device(self) -> torch.device | HostCpu:
        """The device the model computes on."""

    @property
    @abstractmethod
    def compute_type(self) -> str:
        """The numeric type the model computes in, e.g. `float32` or `int8`."""

    @abstractmethod
    def generate(
        self,
        batch: list[list[int]],
        params: GenerationParams,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generated:
        """Generate one output per input (token ids from `encode`), in input order.

        `should_stop` is polled while decoding where the backend can (see each backend); once it
        is true, generation ends for the whole batch and the outputs are cut short (for a batch
        nobody waits for any more).
        """

    def padded_length(self, tokens: int) -> int:
        """The length an input of `tokens` tokens is padded to in any batch: the next multiple
        of `bucket_tokens` (within `max_input_tokens`), or `tokens` itself when buckets are off.

        It depends on the input alone, so with buckets on an input is computed at the same
        shape whatever it is batched with; the engine batches only inputs of equal padded
        length, and `generate` pads a batch to exactly that length.
        """
        if not self.bucket_tokens:
            return tokens
        bucket = -(-tokens // self.bucket_tokens) * self.bucket_tokens
        return max(tokens, min(bucket, self.max_input_tokens))

    @property
    def is_demo(self) -> bool:
        """True for the random-weight models `python -m service demo-models` builds."""
        return bool(getattr(self.config, "demo_model", False))

    def generation_defaults(self) -> dict[str, Any]:
        """The generation settings this model uses unless a request overrides them."""
        return {name: getattr(self.generation_config, name, None) for name in _DEFAULT_NAMES}

    def _pad_id(self) -> int:
        for candidate in (
            self.tokenizer.pad_token_id,
            self.config.pad_token_id,
            self.tokenizer.eos_token_id,
        ):
            if candidate is not None:
                return int(candidate)
        raise ValueError(f"{self.key}: model has no pad or eos token")

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text with the model's prefix and special tokens, not truncated.

        The caller checks lengths against `max_input_tokens`; nothing is cut silently here.
        """
        if not texts:
            return []  # the tokenizer refuses an empty batch (a text with no sentences)
        prefixed = [self.prefix + text for text in texts] if self.prefix else texts
        with self._encode_lock:
            encoded = self.tokenizer(
                prefixed, add_special_tokens=True, truncation=False, verbose=False
            )
        return [list(ids) for ids in encoded["input_ids"]]

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Token counts of texts alone, without prefix or special tokens (for chunk planning)."""
        if not texts:
            return []
        with self._encode_lock:
            encoded = self.tokenizer(
                texts, add_special_tokens=False, truncation=False, verbose=False
            )
        return [len(ids) for ids in encoded["input_ids"]]

    @cached_property
    def overhead_tokens(self) -> int:
        """Tokens `encode` adds to any text: prefix and special tokens."""
        return len(self.encode([""])[0])

    def decode(self, sequences: list[list[int]]) -> list[str]:
        """Texts of generated token ids, special tokens left out."""
        texts = self.tokenizer.batch_decode(sequences, skip_special_tokens=True)
        return [text.strip() for text in texts]

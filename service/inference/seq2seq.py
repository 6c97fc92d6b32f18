"""A loaded seq2seq model: tokenise, generate a padded batch, decode.

`encode` is called from request threads (it holds a lock: fast tokenizers are not safe to call
concurrently). `generate` is called only by the model's batch worker, which owns the model and
its device.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import torch
from transformers import PreTrainedModel, StoppingCriteria, StoppingCriteriaList

# Above this, tokenizer.model_max_length is transformers' "no limit" sentinel.
_NO_LIMIT = 1_000_000


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
    """Decoded outputs of one batch and how many non-pad tokens were generated in all."""

    texts: list[str]
    new_tokens: int


class _StopWhen(StoppingCriteria):
    """Ends generation for every sequence once `should_stop()` is true (checked each step)."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self._should_stop = should_stop

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        stop = self._should_stop()
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


class Seq2SeqModel:
    """A tokenizer and a seq2seq model on one device."""

    def __init__(
        self,
        key: str,
        source: str,
        tokenizer: Any,
        model: PreTrainedModel,
        *,
        prefix: str = "",
        name: str | None = None,
    ) -> None:
        self.key = key
        self.source = source
        # What answers call it (the source's public part); see ModelSpec.name.
        self.name = name or source
        self.tokenizer = tokenizer
        self.model = model
        self.prefix = prefix if not prefix or prefix[-1].isspace() else prefix + " "
        self._encode_lock = threading.Lock()
        limits = [getattr(model.config, "max_position_embeddings", None)]
        if tokenizer.model_max_length and tokenizer.model_max_length < _NO_LIMIT:
            limits.append(tokenizer.model_max_length)
        self.max_input_tokens = min(limit for limit in limits if limit)
        self.max_output_tokens = int(getattr(model.config, "max_position_embeddings", 512))
        self.pad_token_id = self._pad_id()

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    @property
    def is_demo(self) -> bool:
        """True for the random-weight models `python -m service demo-models` builds."""
        return bool(getattr(self.model.config, "demo_model", False))

    def generation_defaults(self) -> dict[str, Any]:
        """The generation settings this model uses unless a request overrides them."""
        config = self.model.generation_config
        names = (
            "num_beams",
            "min_length",
            "max_length",
            "no_repeat_ngram_size",
            "length_penalty",
            "early_stopping",
        )
        return {name: getattr(config, name, None) for name in names}

    def _pad_id(self) -> int:
        for candidate in (
            self.tokenizer.pad_token_id,
            self.model.config.pad_token_id,
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

    def generate(
        self,
        batch: list[list[int]],
        params: GenerationParams,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generated:
        """Generate one output per input, in input order. Inputs are right-padded together.

        `should_stop` is polled at every decoding step; once it is true, generation ends for the
        whole batch and the outputs are cut short (for a batch nobody waits for any more).
        """
        longest = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), longest), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        device = self.model.device
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                stopping_criteria=StoppingCriteriaList([_StopWhen(should_stop)])
                if should_stop is not None
                else None,
                **params.overrides(),
            )
        # Column 0 is the decoder start token, not generated.
        new_tokens = int((output[:, 1:] != self.pad_token_id).sum())
        texts = self.tokenizer.batch_decode(output, skip_special_tokens=True)
        return Generated([text.strip() for text in texts], new_tokens)

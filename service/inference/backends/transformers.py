"""The transformers (PyTorch) backend: `model.generate` on a right-padded batch.

Runs anywhere torch does (CPU, CUDA, MPS) in `DTYPE`. Stopping a batch nobody waits for is a
stopping criterion polled at every decoding step, greedy and beam search alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from transformers import (
    AutoModelForSeq2SeqLM,
    PreTrainedModel,
    StoppingCriteria,
    StoppingCriteriaList,
)

from service.inference.seq2seq import Generated, GenerationParams, Placement, Seq2SeqModel

if TYPE_CHECKING:
    from service.inference.registry import ModelSpec

NAME = "transformers"
DEVICE_TYPES = ("cpu", "cuda", "mps")
OUT_OF_MEMORY: tuple[type[BaseException], ...] = (torch.OutOfMemoryError,)


class _StopWhen(StoppingCriteria):
    """Ends generation for every sequence once `should_stop()` is true (checked each step)."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self._should_stop = should_stop

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        stop = self._should_stop()
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


class TransformersModel(Seq2SeqModel):
    """A transformers seq2seq model and its tokenizer on one torch device."""

    backend = NAME

    def __init__(
        self, key: str, source: str, tokenizer: Any, model: PreTrainedModel, *, prefix: str = ""
    ) -> None:
        super().__init__(
            key, source, tokenizer, model.config, model.generation_config, prefix=prefix
        )
        self.model = model

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    @property
    def compute_type(self) -> str:
        return str(self.model.dtype).removeprefix("torch.")

    def generate(
        self,
        batch: list[list[int]],
        params: GenerationParams,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generated:
        """Inputs are right-padded together with an attention mask; `should_stop` is polled at
        every decoding step (greedy and beam search)."""
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
        return Generated(self.decode(output.tolist()), new_tokens)


def compute_type(device: torch.device, dtype: torch.dtype, requested: str) -> str:
    """The transformers backend computes in DTYPE; COMPUTE_TYPE is CTranslate2's and ignored."""
    return str(dtype).removeprefix("torch.")


def load(spec: ModelSpec, location: str, tokenizer: Any, placement: Placement) -> Seq2SeqModel:
    """Load the weights at `location` (a directory or a Hub id) onto the placement's device."""
    model = AutoModelForSeq2SeqLM.from_pretrained(location, dtype=placement.dtype)
    model.to(placement.device)
    model.eval()
    return TransformersModel(spec.key, spec.source, tokenizer, model, prefix=spec.prefix)


def prepare(spec: ModelSpec, location: str, placement: Placement) -> None:
    """Nothing to prepare: transformers loads the downloaded files as they are."""

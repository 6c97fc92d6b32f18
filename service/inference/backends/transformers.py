"""The transformers (PyTorch) backend: `model.generate` on a right-padded batch.

Runs anywhere torch does (CPU, CUDA, MPS) in `DTYPE`. Stopping a batch nobody waits for is a
stopping criterion polled at every decoding step, greedy and beam search alike.

Batch invariance (`BATCH_BUCKET_TOKENS` > 0): a batch is padded to its inputs' common padded
length, never to its longest input, and on the CPU attention is the eager (matmul + softmax)
implementation: torch's fused SDPA kernel splits its work by batch shape when it runs on several
threads, which changes an input's float sums with its batch-mates. And a CPU batch runs with at
least four rows (inputs x beams; copies fill a smaller one): torch's CPU matrix products sum a
row in another order below four rows. With all three, an input's numbers are bit-identical
alone or co-batched on the CPU (measured in `python -m bench invariance`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import (
    AutoModelForSeq2SeqLM,
    PreTrainedModel,
    StoppingCriteria,
    StoppingCriteriaList,
)

from service.inference.revision import contents_hash
from service.inference.seq2seq import Generated, GenerationParams, Placement, Seq2SeqModel

if TYPE_CHECKING:
    from service.inference.registry import ModelSpec

NAME = "transformers"
DEVICE_TYPES = ("cpu", "cuda", "mps")
OUT_OF_MEMORY: tuple[type[BaseException], ...] = (torch.OutOfMemoryError,)
# Fewest rows (inputs x beams) a batch-invariant batch runs with on the CPU (see `generate`).
_MIN_ROWS = 4


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
        self,
        key: str,
        source: str,
        tokenizer: Any,
        model: PreTrainedModel,
        *,
        prefix: str = "",
        bucket_tokens: int = 0,
    ) -> None:
        super().__init__(
            key,
            source,
            tokenizer,
            model.config,
            model.generation_config,
            prefix=prefix,
            bucket_tokens=bucket_tokens,
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
        """Inputs are right-padded with an attention mask to the padded length of the longest
        (see `padded_length`); `should_stop` is polled at every decoding step (greedy and beam
        search)."""
        longest = self.padded_length(max(len(ids) for ids in batch))
        rows = batch
        beams = params.num_beams or self.generation_config.num_beams or 1
        if self.bucket_tokens and self.device.type == "cpu" and len(batch) * beams < _MIN_ROWS:
            # torch's CPU matrix products sum a row in another order when there are fewer than
            # _MIN_ROWS rows, so a small batch is filled up with copies of its last input.
            rows = batch + batch[-1:] * (-(-_MIN_ROWS // beams) - len(batch))
        input_ids = torch.full((len(rows), longest), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), longest), dtype=torch.long)
        for row, ids in enumerate(rows):
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
        output = output[: len(batch)]
        # Column 0 is the decoder start token, not generated.
        new_tokens = int((output[:, 1:] != self.pad_token_id).sum())
        return Generated(self.decode(output.tolist()), new_tokens)


def compute_type(device: torch.device, dtype: torch.dtype, requested: str) -> str:
    """The transformers backend computes in DTYPE; COMPUTE_TYPE is CTranslate2's and ignored."""
    return str(dtype).removeprefix("torch.")


def load(spec: ModelSpec, location: str, tokenizer: Any, placement: Placement) -> Seq2SeqModel:
    """Load the weights at `location` (a directory or a Hub id) onto the placement's device;
    with batch invariance on the CPU, with eager attention (see the module docstring)."""
    options: dict[str, Any] = {"dtype": placement.dtype}
    if placement.bucket_tokens and placement.device.type == "cpu":
        options["attn_implementation"] = "eager"
    model = AutoModelForSeq2SeqLM.from_pretrained(location, **options)
    model.to(placement.device)
    model.eval()
    loaded = TransformersModel(
        spec.key,
        spec.source,
        tokenizer,
        model,
        prefix=spec.prefix,
        bucket_tokens=placement.bucket_tokens,
    )
    path = Path(location)
    # A Hub id loads through the Hub cache, which names the snapshot's commit in the config.
    loaded.revision = (
        contents_hash(path) if path.is_dir() else getattr(model.config, "_commit_hash", "") or ""
    )
    return loaded


def prepare(spec: ModelSpec, location: str, placement: Placement) -> None:
    """Nothing to prepare: transformers loads the downloaded files as they are."""

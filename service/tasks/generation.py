"""The generation options a request may ask for (length, beams), checked against each model's
limits before anything is queued. Used by the tasks and described by the HTTP schemas."""

from __future__ import annotations

from dataclasses import dataclass

from service.core.errors import InvalidRequest
from service.inference.seq2seq import GenerationParams, Seq2SeqModel

LENGTH_PRESETS: dict[str, tuple[int, int]] = {
    "short": (20, 60),
    "medium": (56, 142),
    "long": (100, 300),
}
MAX_BEAMS = 8
# transformers counts the decoder start token in max_length: 1 leaves no room and generate raises.
MIN_MAX_LENGTH = 2


@dataclass(frozen=True)
class GenerationOptions:
    """The generation overrides a caller may ask for. All optional; validated per model."""

    length: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    num_beams: int | None = None

    def params_for(self, model: Seq2SeqModel) -> GenerationParams:
        """Check the options against `model`'s limits. Raises InvalidRequest naming the field."""
        min_length, max_length = self.min_length, self.max_length
        if self.length is not None:
            if self.length not in LENGTH_PRESETS:
                raise InvalidRequest(
                    f"length must be one of {', '.join(LENGTH_PRESETS)}", field="length"
                )
            preset_min, preset_max = LENGTH_PRESETS[self.length]
            max_length = preset_max if max_length is None else max_length
            if min_length is None:
                # The preset's minimum yields to an explicit, lower maximum: the client asked
                # for that maximum and never sent a minimum to be refused for.
                min_length = min(preset_min, max_length)
        if self.num_beams is not None and not 1 <= self.num_beams <= MAX_BEAMS:
            raise InvalidRequest(f"num_beams must be 1..{MAX_BEAMS}", field="num_beams")
        limit = model.max_output_tokens
        if max_length is not None and not MIN_MAX_LENGTH <= max_length <= limit:
            raise InvalidRequest(
                f"max_length must be {MIN_MAX_LENGTH}..{limit}", field="max_length"
            )
        if min_length is not None:
            upper = max_length if max_length is not None else limit
            if not 0 <= min_length <= upper:
                raise InvalidRequest(f"min_length must be 0..{upper}", field="min_length")
        if max_length is not None and min_length is None:
            # Keep the model's own minimum from exceeding the maximum asked for.
            default_min = model.generation_defaults().get("min_length") or 0
            if default_min > max_length:
                min_length = max_length
        if min_length is not None and max_length is None:
            # Keep the model's own maximum from falling below the minimum asked for.
            default_max = model.generation_defaults().get("max_length") or limit
            if default_max < min_length:
                max_length = min_length
        return GenerationParams(
            num_beams=self.num_beams, min_length=min_length, max_length=max_length
        )

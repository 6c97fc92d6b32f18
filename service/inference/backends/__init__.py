"""Inference backends: one interface, one implementation per library, chosen in one place.

A backend is a module with:

- `NAME`: the `BACKEND` setting that selects it;
- `OUT_OF_MEMORY`: the exceptions meaning "this batch does not fit" (the batcher splits on them);
- `DEVICE_TYPES`: the torch device types it can run on (`DEVICE=auto` picks among these);
- `compute_type(device, dtype, requested)`: the numeric type it will compute in, or ConfigError;
- `load(spec, location, tokenizer, placement)`: a loaded `Seq2SeqModel` (encode, generate a
  batch, decode), with the Hugging Face tokenizer the registry loaded;
- `prepare(spec, location, placement)`: whatever can be done ahead of serving (conversion), for
  `python -m service fetch-models`.

`backend(name)` imports only the chosen one, so the transformers backend never imports
CTranslate2.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_MODULES = {
    "transformers": "service.inference.backends.transformers",
    "ctranslate2": "service.inference.backends.ctranslate2",
}


def backend(name: str) -> ModuleType:
    """The backend module for a `BACKEND` value (config.py has already checked the name)."""
    return importlib.import_module(_MODULES[name])

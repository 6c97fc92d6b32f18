"""What decides a model's output, and the digest that names one cached output.

A cached output may be served only where the model would give the same one. So the key covers
everything that decides it: the model (source, revision, generation defaults, output limit), how
it runs (backend, library versions, compute type, device kind, CPU threads, bucket width), the
pair's prefix, the request's generation options, and the input itself as the model reads it (its
token ids: the text with the prefix and special tokens, under the model's tokenizer). Change any
of them and the digest changes, so a new revision or compute type never serves an old answer.

Keys are SHA-256 digests: no text can be read back from a key (in Redis or in the logs).

Whether every output can be kept depends on batch invariance (README, Batch invariance): where an
input's output does not depend on its batch-mates (`batch_invariant`), any output is the answer;
elsewhere only an output computed alone (a batch of one) is kept, so a hit is the answer the text
gets alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

# Bumped when what a cached value means changes, so no older entry is read as a newer one.
FORMAT = "1"

# (backend, compute type) pairs whose CPU outputs are bit-identical alone and co-batched when
# inputs are padded to buckets; see the README's Batch invariance table.
_INVARIANT_ON_CPU = frozenset({("transformers", "float32"), ("ctranslate2", "int8")})


@dataclass(frozen=True)
class ModelIdentity:
    """Everything about a loaded model and where it runs that decides its outputs."""

    source: str
    revision: str
    backend: str
    libraries: str
    compute_type: str
    device: str
    threads: int
    bucket_tokens: int
    prefix: str
    max_output_tokens: int
    generation_defaults: Mapping[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> bytes:
        """A canonical serialisation: equal identities, equal bytes; any field changed, other
        bytes."""
        fields = asdict(self) | {"format": FORMAT}
        return json.dumps(fields, sort_keys=True, default=str).encode()


class KeyMaker:
    """Digests for one model identity; the identity is hashed once, each key adds the rest."""

    def __init__(self, identity: ModelIdentity) -> None:
        self.identity = identity
        self._base = hashlib.sha256(identity.fingerprint() + b"\0")

    def digest(self, options: Mapping[str, int], ids: Sequence[int]) -> str:
        """The hex key of the output for token `ids` under generation `options` (the request's
        overrides; an option left at the model's default is absent)."""
        hashed = self._base.copy()
        hashed.update(json.dumps(dict(options), sort_keys=True).encode() + b"\0")
        hashed.update(",".join(map(str, ids)).encode())
        return hashed.hexdigest()


def batch_invariant(backend: str, device: str, compute_type: str, bucket_tokens: int) -> bool:
    """Whether an input's output is the same whatever it is batched with: on the CPU, with
    buckets on, for transformers float32 and CTranslate2 int8 only (`device` as in
    `ModelIdentity.device`, e.g. `cpu:AVX2`). A GPU is not measured, so it is not counted as
    invariant."""
    on_cpu = device == "cpu" or device.startswith("cpu:")
    return bucket_tokens > 0 and on_cpu and (backend, compute_type) in _INVARIANT_ON_CPU


def keepable(invariant: bool, batch_size: int) -> bool:
    """Whether an output computed in a batch of `batch_size` inputs may be cached: any, where
    outputs are batch-invariant; else only one computed alone."""
    return invariant or batch_size == 1

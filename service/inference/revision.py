"""Which version of a model's files a directory holds: a digest of their contents.

A Hub snapshot is named by its commit; a local directory has no such name, so what it holds is
named by hashing the files that make the model (weights, configs, tokenizer). The CTranslate2
backend keys its conversions by it, and the output cache keys outputs by it, so changed files
never reuse an old conversion or an old answer.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# Files that make a model in a directory: what the converter reads and the contents hash covers.
MODEL_FILES = ("*.json", "*.txt", "*.model", "*.spm", "*.safetensors", "pytorch_model.bin")


def contents_hash(path: Path) -> str:
    """SHA-256 over the names and contents of `path`'s model files, in name order."""
    digest = hashlib.sha256()
    files = sorted({f for pattern in MODEL_FILES for f in path.glob(pattern) if f.is_file()})
    for file in files:
        digest.update(file.name.encode() + b"\0")
        with file.open("rb") as stream:
            digest.update(hashlib.file_digest(stream, "sha256").digest())
    return digest.hexdigest()

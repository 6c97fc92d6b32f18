"""A translation pair: the one place its `"src-tgt"` key is written and read."""

from __future__ import annotations

import re
from dataclasses import dataclass

# ISO 639-1 or -3 codes, lower case: what model names and the settings use.
_PAIR_RE = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})$")


@dataclass(frozen=True)
class LanguagePair:
    """Source and target language codes. `key` is the pair's name in settings, the model
    registry and URLs (`en-fr`)."""

    source: str
    target: str

    @classmethod
    def parse(cls, key: str) -> LanguagePair:
        """The pair named `key`. Raises ValueError unless it is SRC-TGT (e.g. en-fr)."""
        match = _PAIR_RE.match(key)
        if not match:
            raise ValueError(f"pair {key!r} is not SRC-TGT (e.g. en-fr)")
        return cls(match.group(1), match.group(2))

    @property
    def key(self) -> str:
        return f"{self.source}-{self.target}"

    def __str__(self) -> str:
        return self.key

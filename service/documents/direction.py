"""Which languages are written right to left: every format marks a translation into one of them
(HTML `dir="rtl"`, an EPUB's page progression), and sets its language tag either way."""

from __future__ import annotations

# Arabic, Hebrew, Persian, Urdu, Pashto, Sindhi, Yiddish, Dhivehi, Kurdish (Sorani), Uyghur.
RTL_LANGUAGES = frozenset({"ar", "he", "fa", "ur", "ps", "sd", "yi", "dv", "ckb", "ug"})


def is_rtl(language: str) -> bool:
    """Whether `language` (a code, `ar` or `ar-EG`) is written right to left."""
    return language.split("-", 1)[0].lower() in RTL_LANGUAGES


def direction(language: str) -> str:
    """`rtl` or `ltr`, as HTML's `dir` attribute takes it."""
    return "rtl" if is_rtl(language) else "ltr"

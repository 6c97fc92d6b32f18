"""What a format writes to mark the target language: its locale and its direction.

Office files name a language by locale (`ar-SA`, `fr-FR`): Word's `w:lang`, PowerPoint's
`lang`, ODF's `fo:language`/`fo:country` (or the `-complex` pair for Arabic script). A
right-to-left language also turns its paragraphs right to left, so the file opens that way.
"""

from __future__ import annotations

from service.documents.direction import is_rtl

# The country written with a bare language code: the one Word and LibreOffice offer first.
COUNTRIES = {"ar": "SA", "fr": "FR", "en": "US", "de": "DE", "es": "ES", "he": "IL", "fa": "IR"}


def language_of(target: str) -> str:
    """The bare language code (`ar` for `ar`, `ar-EG` or `ar_EG`)."""
    return target.replace("_", "-").split("-")[0].lower()


def locale_of(target: str) -> tuple[str, str]:
    """(language, country) for `target`: `("ar", "SA")` for `ar`, `("ar", "EG")` for `ar-EG`;
    the country is empty when none is known."""
    parts = target.replace("_", "-").split("-")
    language = parts[0].lower()
    country = parts[1].upper() if len(parts) > 1 else COUNTRIES.get(language, "")
    return language, country


def locale_tag(target: str) -> str:
    """`ar-SA` for `ar`: the tag Word and PowerPoint write."""
    language, country = locale_of(target)
    return f"{language}-{country}" if country else language


def is_right_to_left(target: str) -> bool:
    """Whether `target` is written right to left (`ar`, `ar-EG`, `ar_EG`): one list for every
    format, in `direction.py`."""
    return is_rtl(language_of(target))

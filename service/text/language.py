"""Which language a text is written in, with py3langid (a naive Bayes model over byte n-grams).

py3langid ships its model inside the wheel (no download at run time), answers in well under a
millisecond per sentence, and gives the same answer for the same text every time. The README
has the comparison with langdetect and lingua that chose it.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Collection
from dataclasses import dataclass

from py3langid.langid import MODEL_FILE, LanguageIdentifier

# English names of the languages people most often configure (LibreTranslate's /languages
# shows a name per code); other codes are shown as themselves.
LANGUAGE_NAMES = {
    "ar": "Arabic",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fa": "Persian",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "sv": "Swedish",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "ur": "Urdu",
    "zh": "Chinese",
}


def language_name(code: str) -> str:
    """The English name of a language code, or the code when it is not in LANGUAGE_NAMES."""
    return LANGUAGE_NAMES.get(code, code)


@dataclass(frozen=True)
class Detection:
    """One candidate language: an ISO 639-1 code and a confidence from 0 to 100."""

    language: str
    confidence: float


class LanguageDetector:
    """Owns the language-identification model; `detect` is safe from many threads.

    The model loads on the first `detect` (about half a second), so an app that never detects
    never pays for it; after that its arrays are only read. A detection among some languages
    uses a copy restricted to them, made once per set of languages and sharing the arrays.
    """

    def __init__(self) -> None:
        self._identifiers: dict[frozenset[str] | None, LanguageIdentifier] = {}
        self._lock = threading.Lock()

    def _loaded(self, among: Collection[str] | None) -> LanguageIdentifier:
        with self._lock:
            if None not in self._identifiers:
                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                # ISO 639-1 codes only, the ones translation models and LibreTranslate clients
                # use: this folds Arabic dialects (ary, arz) into "ar" and drops rare labels
                # (fuv, pcm) that otherwise win on very short texts.
                identifier.set_languages(sorted({c for c in identifier.nb_classes if len(c) == 2}))
                self._identifiers[None] = identifier
            full = self._identifiers[None]
            known = frozenset(among or ()) & frozenset(full.nb_classes)
            if not known:
                return full
            if known not in self._identifiers:
                restricted = copy.copy(full)  # set_languages rebinds, never writes, the arrays
                restricted.set_languages(sorted(known))
                self._identifiers[known] = restricted
            return self._identifiers[known]

    def detect(
        self, text: str, top: int = 3, among: Collection[str] | None = None
    ) -> list[Detection]:
        """The `top` likeliest languages of `text`, best first (at least one).

        `among` restricts the answer to those languages (codes the model does not know are left
        out; none known: every language), with confidences that sum to 100 over them: a short
        post then gets the likeliest of the languages served, where among every language a
        two-word English post ("Civilians fled.") reads as Latin. Text with no letters (digits,
        punctuation) still gets an answer, with a low confidence: the model always ranks every
        language it knows.
        """
        ranked = self._loaded(among).rank(text)
        return [
            Detection(language, round(float(score) * 100, 2))
            for language, score in ranked[: max(1, top)]
        ]

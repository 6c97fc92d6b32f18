"""Language detection: right on short news sentences in the served languages, ranked, stable."""

import pytest

from service.text.language import LanguageDetector, language_name

SENTENCES = {
    "en": [
        "The council approved the new bridge on Tuesday.",
        "Farmers fear the drought will ruin the harvest.",
        "Police arrested two men after the robbery.",
    ],
    "fr": [
        "Le conseil a approuvé le nouveau pont mardi.",
        "Les agriculteurs craignent que la sécheresse ruine la récolte.",
        "La police a arrêté deux hommes après le vol.",
    ],
    "ar": [
        "وافق المجلس على الجسر الجديد يوم الثلاثاء.",
        "يخشى المزارعون أن يدمر الجفاف المحصول.",
        "اعتقلت الشرطة رجلين بعد السرقة.",
    ],
}


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


@pytest.mark.parametrize("language", SENTENCES)
def test_news_sentences_are_detected_confidently(detector, language: str) -> None:
    for sentence in SENTENCES[language]:
        best = detector.detect(sentence)[0]
        assert best.language == language, sentence
        assert best.confidence > 50


def test_candidates_come_best_first_with_confidences_0_to_100(detector) -> None:
    found = detector.detect("Le conseil a approuvé le nouveau pont mardi.", top=3)
    assert len(found) == 3
    confidences = [d.confidence for d in found]
    assert confidences == sorted(confidences, reverse=True)
    assert all(0 <= c <= 100 for c in confidences)


def test_only_two_letter_codes_so_arabic_dialect_labels_fold_into_ar(detector) -> None:
    found = detector.detect("شو بدك تعمل اليوم يا زلمة", top=10)
    assert all(len(d.language) == 2 for d in found)
    assert found[0].language == "ar"


def test_the_same_text_gets_the_same_answer(detector) -> None:
    text = "Thousands marched through the capital on Sunday."
    assert detector.detect(text) == detector.detect(text) == LanguageDetector().detect(text)


def test_text_without_letters_still_gets_an_answer(detector) -> None:
    for text in ("", "2024 - 12:30", "!!!"):
        found = detector.detect(text, top=1)
        assert len(found) == 1 and found[0].confidence < 50


def test_language_names() -> None:
    assert language_name("ar") == "Arabic"
    assert language_name("xx") == "xx"

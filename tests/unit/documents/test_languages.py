"""The locale and direction a format writes for a target language."""

from __future__ import annotations

import pytest

from service.documents.languages import is_right_to_left, language_of, locale_of, locale_tag


@pytest.mark.parametrize(
    ("target", "locale", "tag"),
    [
        ("ar", ("ar", "SA"), "ar-SA"),
        ("ar-EG", ("ar", "EG"), "ar-EG"),
        ("fr_ca", ("fr", "CA"), "fr-CA"),
        ("FR", ("fr", "FR"), "fr-FR"),
        ("sw", ("sw", ""), "sw"),
    ],
)
def test_a_target_names_its_locale(target: str, locale: tuple[str, str], tag: str) -> None:
    assert locale_of(target) == locale
    assert locale_tag(target) == tag


def test_arabic_script_languages_are_right_to_left_and_others_not() -> None:
    assert is_right_to_left("ar") and is_right_to_left("ar-EG") and is_right_to_left("he")
    assert not is_right_to_left("fr") and not is_right_to_left("en")
    assert language_of("ar_EG") == "ar"

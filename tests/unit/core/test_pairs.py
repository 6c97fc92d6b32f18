"""LanguagePair: the one place a pair's `src-tgt` key is written and read."""

import pytest

from service.core.pairs import LanguagePair


@pytest.mark.parametrize("key", ["en-fr", "en-ar", "eng-fra", "zh-en"])
def test_a_key_reads_back_as_itself(key: str) -> None:
    pair = LanguagePair.parse(key)
    assert pair.key == str(pair) == key
    assert (pair.source, pair.target) == tuple(key.split("-"))


@pytest.mark.parametrize(
    "key", ["", "en", "en-", "-fr", "en_fr", "EN-FR", "e-fr", "engl-fr", "en-fr-x"]
)
def test_anything_else_is_refused_by_name(key: str) -> None:
    with pytest.raises(ValueError, match="is not SRC-TGT"):
        LanguagePair.parse(key)


def test_pairs_are_values() -> None:
    assert LanguagePair("en", "fr") == LanguagePair.parse("en-fr")
    assert len({LanguagePair("en", "fr"), LanguagePair.parse("en-fr")}) == 1
    assert LanguagePair("en", "fr") != LanguagePair("fr", "en")

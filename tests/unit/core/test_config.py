"""Settings: defaults, environment parsing, and errors that name the variable."""

from __future__ import annotations

import dataclasses

import pytest

from service.core.config import SETTINGS, Settings
from service.core.errors import ConfigError
from service.core.setting_values import parse_pairs


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.summarize_model == "sshleifer/distilbart-cnn-12-6"
    assert settings.translate_models == (
        ("en-fr", "Helsinki-NLP/opus-mt-en-fr"),
        ("en-ar", "Helsinki-NLP/opus-mt-en-ar"),
    )
    assert settings.translate_prefixes == (("en-ar", ">>ara<<"),)
    assert (settings.device, settings.dtype, settings.torch_threads) == ("auto", "auto", 0)
    assert (settings.max_batch_size, settings.max_batch_tokens) == (32, 8192)
    assert (settings.max_wait_ms, settings.max_queue, settings.item_timeout_s) == (5, 256, 120)
    assert settings.eager_load is True


def test_every_setting_has_a_field_an_env_var_and_help() -> None:
    assert [s.field for s in SETTINGS] == [f.name for f in dataclasses.fields(Settings)]
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)
    assert all(s.help.strip() for s in SETTINGS)


def test_values_come_from_the_given_environment() -> None:
    settings = Settings.from_env(
        {
            "MAX_BATCH_SIZE": "4",
            "MAX_WAIT_MS": "12.5",
            "ITEM_TIMEOUT_S": "0.5",
            "EAGER_LOAD": "no",
            "DEVICE": "cuda:1",
            "UNRELATED": "ignored",
        }
    )
    assert settings.max_batch_size == 4
    assert settings.max_wait_ms == 12.5
    assert settings.item_timeout_s == 0.5
    assert settings.eager_load is False
    assert settings.device == "cuda:1"


def test_the_process_environment_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_QUEUE", "7")
    assert Settings.from_env().max_queue == 7


def test_defaults_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_QUEUE", "7")
    assert Settings.defaults(max_items=3).max_queue == 256
    assert Settings.defaults(max_items=3).max_items == 3


def test_settings_are_frozen_and_replace_copies() -> None:
    settings = Settings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_queue = 1  # type: ignore[misc]
    changed = settings.replace(max_queue=1)
    assert (changed.max_queue, settings.max_queue) == (1, 256)


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("MAX_BATCH_SIZE", "0"),
        ("MAX_BATCH_SIZE", "four"),
        ("MAX_BATCH_SIZE", "2.5"),
        ("MAX_QUEUE", "-1"),
        ("TORCH_THREADS", "-2"),
        ("MAX_WAIT_MS", "-1"),
        ("MAX_WAIT_MS", "inf"),
        ("ITEM_TIMEOUT_S", "0"),
        ("ITEM_TIMEOUT_S", "nan"),
        ("ITEM_TIMEOUT_S", "inf"),
        ("ITEM_TIMEOUT_S", "1e300"),
        ("EAGER_LOAD", "maybe"),
        ("TRANSLATE_MODELS", "en-fr"),
        ("TRANSLATE_MODELS", "=Helsinki-NLP/opus-mt-en-fr"),
        ("TRANSLATE_PREFIXES", "en-ar"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_LEVEL", ""),
        ("CACHE", "sometimes"),
        ("CACHE_MEMORY_BYTES", "-1"),
        ("CACHE_TTL_S", "0"),
        ("CACHE_TIMEOUT_MS", "0"),
    ],
)
def test_a_bad_value_names_its_variable(env: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({env: value})
    assert str(raised.value).startswith(f"{env}={value!r}")


def test_the_cache_is_on_in_memory_by_default_and_a_bad_url_is_not_echoed() -> None:
    settings = Settings.from_env({})
    assert (settings.cache, settings.cache_memory_bytes, settings.cache_url) == (True, 2**26, "")
    assert Settings.from_env({"CACHE_URL": "redis://:pw@cache:6379/2"}).cache_url.endswith("/2")
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"CACHE_URL": "http://user:hunter2@cache"})
    assert str(raised.value).startswith("CACHE_URL:") and "hunter2" not in str(raised.value)


@pytest.mark.parametrize(("raw", "expected"), [("debug", "DEBUG"), (" Warning ", "WARNING")])
def test_log_levels_take_any_case(raw: str, expected: str) -> None:
    assert Settings.from_env({"LOG_LEVEL": raw}).log_level == expected


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("TRUE", True), ("off", False)])
def test_booleans(raw: str, expected: bool) -> None:
    assert Settings.from_env({"EAGER_LOAD": raw}).eager_load is expected


def test_translate_models_add_a_pair_without_code() -> None:
    raw = "en-fr=Helsinki-NLP/opus-mt-en-fr, en-ar=/models/en-ar ,fr-en=Helsinki-NLP/opus-mt-fr-en,"
    settings = Settings.from_env({"TRANSLATE_MODELS": raw})
    assert settings.translate_models == (
        ("en-fr", "Helsinki-NLP/opus-mt-en-fr"),
        ("en-ar", "/models/en-ar"),
        ("fr-en", "Helsinki-NLP/opus-mt-fr-en"),
    )


def test_parse_pairs_splits_on_the_first_equals_only() -> None:
    assert parse_pairs("en-x=a=b") == (("en-x", "a=b"),)
    assert parse_pairs("") == ()
    assert parse_pairs(" , ") == ()


def test_an_empty_prefix_setting_keeps_the_default_prefixes() -> None:
    assert Settings.from_env({"TRANSLATE_PREFIXES": ""}).translate_prefixes == (
        ("en-ar", ">>ara<<"),
    )


def test_prefixes_set_by_the_user_apply_on_top_of_the_default() -> None:
    settings = Settings.from_env({"TRANSLATE_PREFIXES": "en-zh=>>cmn_Hans<<"})
    assert settings.translate_prefixes == (("en-ar", ">>ara<<"), ("en-zh", ">>cmn_Hans<<"))


def test_an_empty_prefix_for_a_pair_replaces_its_default() -> None:
    settings = Settings.from_env({"TRANSLATE_PREFIXES": "en-ar=,en-zh=>>cmn_Hans<<"})
    assert settings.translate_prefixes == (("en-ar", ""), ("en-zh", ">>cmn_Hans<<"))


def test_backend_and_compute_type() -> None:
    settings = Settings.from_env({"BACKEND": "CTranslate2", "COMPUTE_TYPE": "int8_float16"})
    assert (settings.backend, settings.compute_type) == ("ctranslate2", "int8_float16")
    assert Settings.from_env({}).compute_type == "auto"
    for env, value in (("BACKEND", "onnx"), ("COMPUTE_TYPE", "int4")):
        with pytest.raises(ConfigError, match=env):
            Settings.from_env({env: value})


def test_ct2_cache_dir_defaults_under_hf_home() -> None:
    assert Settings.from_env({"HF_HOME": "/data/hf"}).ct2_cache_dir == "/data/hf/ctranslate2"
    assert Settings.from_env({"CT2_CACHE_DIR": "/srv/ct2"}).ct2_cache_dir == "/srv/ct2"

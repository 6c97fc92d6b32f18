"""Which model serves what (model_specs) and loading one (load_model), offline."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import pytest
import torch

from service.core.config import Settings
from service.core.errors import ConfigError, ModelLoadError
from service.inference import registry
from service.inference.registry import SUMMARIZE, TRANSLATE, ModelSpec, load_model, model_specs
from service.inference.seq2seq import Placement

CPU = torch.device("cpu")
CPU_FLOAT32 = Placement(device=CPU, dtype=torch.float32)


def settings_with(**env: str) -> Settings:
    return Settings.from_env(env)


# ----- model_specs ---------------------------------------------------------------------------


def test_default_specs_are_the_summariser_then_each_pair() -> None:
    specs = model_specs(settings_with())
    assert [(s.key, s.task) for s in specs] == [
        (SUMMARIZE, SUMMARIZE),
        ("en-fr", TRANSLATE),
        ("en-ar", TRANSLATE),
    ]
    en_ar = specs[2]
    assert (en_ar.source_lang, en_ar.target_lang, en_ar.prefix) == ("en", "ar", ">>ara<<")
    assert specs[1].prefix == ""


def test_a_configured_pair_becomes_a_spec() -> None:
    specs = model_specs(
        settings_with(TRANSLATE_MODELS="en-fr=a,fr-en=/models/fr-en", TRANSLATE_PREFIXES="")
    )
    fr_en = specs[-1]
    assert (fr_en.key, fr_en.task, fr_en.source) == ("fr-en", TRANSLATE, "/models/fr-en")
    assert (fr_en.source_lang, fr_en.target_lang) == ("fr", "en")


def test_a_prefix_for_a_new_pair_keeps_the_default_for_en_ar() -> None:
    specs = model_specs(
        settings_with(
            TRANSLATE_MODELS="en-fr=a,en-ar=b,en-zh=Helsinki-NLP/opus-mt-en-zh",
            TRANSLATE_PREFIXES="en-zh=>>cmn_Hans<<",
        )
    )
    prefixes = {spec.key: spec.prefix for spec in specs}
    assert prefixes == {"summarize": "", "en-fr": "", "en-ar": ">>ara<<", "en-zh": ">>cmn_Hans<<"}


def test_an_empty_prefix_removes_the_default_for_its_pair() -> None:
    specs = model_specs(settings_with(TRANSLATE_PREFIXES="en-ar="))
    assert {spec.key: spec.prefix for spec in specs}["en-ar"] == ""


@pytest.mark.parametrize("prefixes", ["en-ar=>>ara<<", "en-ar=>>ara<<,en-fr="])
def test_user_prefixes_for_served_pairs_only_are_accepted(prefixes: str) -> None:
    settings = settings_with(TRANSLATE_MODELS="en-fr=a,en-ar=b", TRANSLATE_PREFIXES=prefixes)
    assert [spec.key for spec in model_specs(settings)] == ["summarize", "en-fr", "en-ar"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRANSLATE_MODELS": "english-french=x"}, "'english-french' is not SRC-TGT"),
        ({"TRANSLATE_MODELS": "EN-FR=x"}, "'EN-FR' is not SRC-TGT"),
        ({"TRANSLATE_MODELS": "en_fr=x"}, "'en_fr' is not SRC-TGT"),
        ({"TRANSLATE_MODELS": "en-fr=x,en-fr=y"}, "'en-fr' is given twice"),
        ({"TRANSLATE_MODELS": "en-fr="}, "'en-fr' names no model"),
        (
            {"TRANSLATE_MODELS": "en-fr=x", "TRANSLATE_PREFIXES": "en-de=>>deu<<"},
            "TRANSLATE_PREFIXES names pairs with no model: en-de",
        ),
        (
            # The user's en-zh entry is a mistake even though the default en-ar one is kept.
            {"TRANSLATE_MODELS": "en-fr=x", "TRANSLATE_PREFIXES": "en-zh=>>cmn_Hans<<"},
            "TRANSLATE_PREFIXES names pairs with no model: en-zh$",
        ),
        (
            {"TRANSLATE_MODELS": "en-fr=x", "TRANSLATE_PREFIXES": "en-ar=>>arz<<"},
            "TRANSLATE_PREFIXES names pairs with no model: en-ar$",
        ),
    ],
)
def test_bad_model_settings_are_config_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        model_specs(settings_with(**env))


# ----- load_model ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "max_input"), [("summarize", 1024), ("en-fr", 512), ("en-ar", 512)]
)
def test_loads_a_local_directory(demo_models: dict[str, Path], key: str, max_input: int) -> None:
    task = SUMMARIZE if key == SUMMARIZE else TRANSLATE
    model = load_model(ModelSpec(key, task, str(demo_models[key])), CPU_FLOAT32)
    assert model.key == key
    assert model.is_demo
    assert model.max_input_tokens == max_input
    assert (model.device, model.dtype) == (CPU, torch.float32)
    assert not model.model.training
    assert model.generation_defaults()["num_beams"] == 4


def test_a_missing_directory_is_a_clear_load_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelLoadError) as raised:
        load_model(ModelSpec("en-fr", TRANSLATE, str(missing)), CPU_FLOAT32)
    message = str(raised.value)
    assert "'en-fr'" in message
    assert str(missing) in message
    assert "does not exist" in message
    assert "fetch-models" in message


def test_a_relative_path_under_a_local_folder_is_a_missing_directory_not_a_hub_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`SUMMARIZE_MODEL=models/summarize` after a failed fetch: `models/` is there, the model
    is not. That is a missing directory, not a Hub id the Hub could not be asked about."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    with pytest.raises(ModelLoadError) as raised:
        load_model(ModelSpec(SUMMARIZE, SUMMARIZE, "models/summarize"), CPU, torch.float32)
    message = str(raised.value)
    assert "directory 'models/summarize' does not exist" in message
    assert "connect" not in message and "cache" not in message
    assert message.endswith("set SUMMARIZE_MODEL to an existing model directory.")


@pytest.mark.parametrize("source", ["models/demo/summarize", "a/b/c"])
def test_sources_with_more_parts_than_a_hub_id_are_paths(source: str) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(ModelSpec("en-fr", TRANSLATE, source), CPU, torch.float32)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_without_the_hub_an_uncached_model_fails_at_once_with_the_fix_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HF_HUB_OFFLINE unset and no network: huggingface_hub would retry each file for about
    a minute; the probe makes it one quick error whose last sentence is the fix."""
    monkeypatch.setattr(registry.hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(registry.hub_constants, "ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    started = time.monotonic()
    with pytest.raises(ModelLoadError) as raised:
        load_model(ModelSpec("en-fr", TRANSLATE, "example-org/not-cached"), CPU, torch.float32)
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert "'example-org/not-cached' is not in the local cache" in message
    assert "cannot be reached (ConnectError" in message
    assert message.endswith("then set TRANSLATE_MODELS to its directory.")
    assert "\n" not in message


def test_a_directory_without_a_model_is_a_clear_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="holds no model"):
        load_model(ModelSpec("en-fr", TRANSLATE, str(tmp_path)), CPU_FLOAT32)


def test_a_broken_model_directory_is_a_load_error(
    demo_models: dict[str, Path], tmp_path: Path
) -> None:
    # Config present, tokenizer and weights missing (an interrupted copy).
    shutil.copy(demo_models["en-fr"] / "config.json", tmp_path / "config.json")
    with pytest.raises(ModelLoadError, match="cannot load"):
        load_model(ModelSpec("en-fr", TRANSLATE, str(tmp_path)), CPU_FLOAT32)


def test_truncated_weights_are_a_one_line_load_error(
    demo_models: dict[str, Path], tmp_path: Path
) -> None:
    # An interrupted copy: the safetensors header promises more bytes than the file holds.
    copy = shutil.copytree(demo_models["en-fr"], tmp_path / "en-fr")
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match="cannot load") as raised:
        load_model(ModelSpec("en-fr", TRANSLATE, str(copy)), CPU_FLOAT32)
    message = str(raised.value)
    assert "'en-fr'" in message
    assert "\n" not in message


def test_an_uncached_hub_id_offline_names_the_model_and_the_fix() -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    hub_id = "newsroom-tests/model-that-is-not-cached"
    with pytest.raises(ModelLoadError) as raised:
        load_model(ModelSpec("en-fr", TRANSLATE, hub_id), CPU_FLOAT32)
    message = str(raised.value)
    assert hub_id in message
    assert "fetch-models" in message
    assert "HF_HUB_OFFLINE" in message
    assert "\n" not in message


def test_the_arabic_prefix_reaches_the_tokenizer(demo_models: dict[str, Path]) -> None:
    spec = ModelSpec("en-ar", TRANSLATE, str(demo_models["en-ar"]), prefix=">>ara<<")
    model = load_model(spec, CPU_FLOAT32)
    ara = model.tokenizer.convert_tokens_to_ids(">>ara<<")
    assert ara != model.tokenizer.unk_token_id
    ids = model.encode(["Heavy rain caused flooding.", "Officials said so."])
    assert [row[0] for row in ids] == [ara, ara]
    assert [row.count(ara) for row in ids] == [1, 1]
    # The prefix is counted as overhead, not as text.
    assert model.overhead_tokens == len(model.encode([""])[0]) == 2
    assert model.count_tokens(["Officials said so."])[0] == len(ids[1]) - 2


def test_without_a_prefix_no_language_token_is_added(demo_models: dict[str, Path]) -> None:
    model = load_model(ModelSpec("en-fr", TRANSLATE, str(demo_models["en-fr"])), CPU_FLOAT32)
    ara = model.tokenizer.convert_tokens_to_ids(">>ara<<")
    fra = model.tokenizer.convert_tokens_to_ids(">>fra<<")
    ids = model.encode(["Heavy rain caused flooding."])[0]
    assert ara not in ids and fra not in ids


def test_an_unknown_language_token_prefix_is_a_load_error(demo_models: dict[str, Path]) -> None:
    spec = ModelSpec("en-ar", TRANSLATE, str(demo_models["en-ar"]), prefix=">>xyz<<")
    with pytest.raises(ModelLoadError, match=r"does not know the prefix '>>xyz<<'") as raised:
        load_model(spec, CPU_FLOAT32)
    assert "TRANSLATE_PREFIXES" in str(raised.value)


def test_encode_of_no_texts_is_empty(demo_models: dict[str, Path]) -> None:
    model = load_model(ModelSpec("en-fr", TRANSLATE, str(demo_models["en-fr"])), CPU_FLOAT32)
    assert model.encode([]) == []
    assert model.count_tokens([]) == []


def test_default_prefixes_do_not_block_a_deployment_without_en_ar() -> None:
    settings = Settings.defaults(translate_models=(("en-fr", "Helsinki-NLP/opus-mt-en-fr"),))
    assert [spec.key for spec in model_specs(settings)] == ["summarize", "en-fr"]


def _multi_target_copy(demo_models: dict[str, Path], tmp_path: Path) -> Path:
    """The demo en-ar model with more target tokens, like opus-mt-en-ar (>>ara<<, >>arz<<, ...)."""
    from transformers import AutoTokenizer

    copy = shutil.copytree(demo_models["en-ar"], tmp_path / "en-ar")
    tokenizer = AutoTokenizer.from_pretrained(copy)
    tokenizer.add_tokens([">>arz<<", ">>ary<<", ">>apc<<"], special_tokens=True)
    tokenizer.save_pretrained(copy)
    return copy


def test_a_multi_target_model_without_a_prefix_is_a_load_error(
    demo_models: dict[str, Path], tmp_path: Path
) -> None:
    copy = _multi_target_copy(demo_models, tmp_path)
    with pytest.raises(ModelLoadError, match="multi-target") as raised:
        load_model(ModelSpec("en-ar", TRANSLATE, str(copy)), CPU_FLOAT32)
    message = str(raised.value)
    assert "'en-ar'" in message
    assert ">>ara<<" in message and ">>arz<<" in message
    assert "TRANSLATE_PREFIXES" in message
    assert "\n" not in message


def test_a_multi_target_model_with_a_prefix_loads(
    demo_models: dict[str, Path], tmp_path: Path
) -> None:
    copy = _multi_target_copy(demo_models, tmp_path)
    model = load_model(ModelSpec("en-ar", TRANSLATE, str(copy), prefix=">>ara<<"), CPU_FLOAT32)
    assert model.prefix.strip() == ">>ara<<"


def test_a_broken_local_model_is_not_blamed_on_the_hub(
    demo_models: dict[str, Path], tmp_path: Path
) -> None:
    shutil.copy(demo_models["en-fr"] / "config.json", tmp_path / "config.json")
    with pytest.raises(ModelLoadError, match="cannot load directory") as raised:
        load_model(ModelSpec("en-fr", TRANSLATE, str(tmp_path)), CPU_FLOAT32)
    assert "Hub" not in str(raised.value)

"""The CTranslate2 backend: conversion and its cache, compute types, and outputs equal to the
transformers backend's in float32 on the tiny models (greedy and beam search)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from service.core.errors import ConfigError, ModelLoadError
from service.inference.backends import ctranslate2 as ct2_backend
from service.inference.registry import (
    SUMMARIZE,
    TRANSLATE,
    ModelSpec,
    load_model,
    prepare_model,
)
from service.inference.seq2seq import GenerationParams, Placement, Seq2SeqModel

CPU = torch.device("cpu")
TEXTS = [
    "The city council approved a new budget on Tuesday.",
    "Heavy rain caused flooding in several northern towns over the weekend, forcing hundreds "
    "of families to leave their homes.",
    "Shares fell.",
    "Scientists at the national university have published a study.",
]
SPECS = {
    "summarize": ModelSpec("summarize", SUMMARIZE, ""),
    "en-fr": ModelSpec("en-fr", TRANSLATE, ""),
    "en-ar": ModelSpec("en-ar", TRANSLATE, "", prefix=">>ara<<"),
}


def _spec(key: str, demo_models: dict[str, Path]) -> ModelSpec:
    spec = SPECS[key]
    return ModelSpec(spec.key, spec.task, str(demo_models[key]), prefix=spec.prefix)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ct2")


def _placement(cache_dir: Path, compute_type: str = "float32") -> Placement:
    return Placement(device=CPU, compute_type=compute_type, threads=1, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def pairs(
    demo_models: dict[str, Path], cache_dir: Path
) -> Iterator[dict[str, tuple[Seq2SeqModel, Seq2SeqModel]]]:
    """Per model key: (transformers float32, CTranslate2 float32)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield {
        key: (
            load_model(_spec(key, demo_models), Placement(device=CPU), "transformers"),
            load_model(_spec(key, demo_models), _placement(cache_dir), "ctranslate2"),
        )
        for key in SPECS
    }
    torch.set_num_threads(threads)


@pytest.mark.parametrize("key", list(SPECS))
@pytest.mark.parametrize(
    "params",
    [
        GenerationParams(num_beams=1),
        GenerationParams(),  # the model's generation_config: 4 beams
        GenerationParams(num_beams=4, max_new_tokens=10),
        GenerationParams(num_beams=1, min_length=30, max_length=40),
        GenerationParams(num_beams=2, min_new_tokens=5, max_new_tokens=12),
    ],
    ids=repr,
)
def test_float32_outputs_equal_the_transformers_backend(
    pairs: dict[str, tuple[Seq2SeqModel, Seq2SeqModel]], key: str, params: GenerationParams
) -> None:
    reference, converted = pairs[key]
    if key == SUMMARIZE and params.overrides().get("num_beams", 4) > 1:
        pytest.skip("BART beam search: see test_bart_beam_search_without_ngram_blocking")
    batch = reference.encode(TEXTS)
    assert converted.encode(TEXTS) == batch
    assert converted.generate(batch, params).texts == reference.generate(batch, params).texts


def test_bart_beam_search_without_ngram_blocking_equals_transformers(
    pairs: dict[str, tuple[Seq2SeqModel, Seq2SeqModel]],
) -> None:
    """BART's beam search equals transformers' (forced `<s>` and `</s>`, min_length, length
    penalty 2, early stopping) except for no_repeat_ngram_size, whose blocking inside
    CTranslate2's beam search picks other beams: the README says so."""
    reference, converted = pairs[SUMMARIZE]
    for model in (reference, converted):
        model.generation_config.no_repeat_ngram_size = 0
    try:
        for text in TEXTS:
            ids = reference.encode([text])
            expected = reference.generate(ids, GenerationParams(num_beams=4)).texts
            assert converted.generate(ids, GenerationParams(num_beams=4)).texts == expected
    finally:
        for model in (reference, converted):
            model.generation_config.no_repeat_ngram_size = 3


def test_decoding_options_follow_transformers_length_rules(
    pairs: dict[str, tuple[Seq2SeqModel, Seq2SeqModel]],
) -> None:
    _, summariser = pairs[SUMMARIZE]
    assert isinstance(summariser, ct2_backend.Ct2Model)
    options = summariser.decoding_options(GenerationParams())
    # max_length 142 counts the decoder start; the forced </s> takes the last place.
    assert (options["max_decoding_length"], options["min_decoding_length"]) == (140, 55)
    assert (options["beam_size"], options["length_penalty"]) == (4, 2.0)
    assert options["no_repeat_ngram_size"] == 3 and options["max_input_length"] == 0
    options = summariser.decoding_options(GenerationParams(min_new_tokens=60, max_new_tokens=20))
    assert (options["max_decoding_length"], options["min_decoding_length"]) == (19, 19)


def test_the_marian_target_token_prefix_reaches_the_encoder(
    pairs: dict[str, tuple[Seq2SeqModel, Seq2SeqModel]],
) -> None:
    _, en_ar = pairs["en-ar"]
    ids = en_ar.encode(["Good morning."])[0]
    assert en_ar.tokenizer.convert_ids_to_tokens(ids)[0] == ">>ara<<"
    assert en_ar.tokenizer.convert_ids_to_tokens(ids)[-1] == "</s>"


def test_greedy_generation_stops_when_told_to(
    pairs: dict[str, tuple[Seq2SeqModel, Seq2SeqModel]],
) -> None:
    _, en_fr = pairs["en-fr"]
    batch = en_fr.encode(TEXTS)
    full = en_fr.generate(batch, GenerationParams(num_beams=1))
    stopped = en_fr.generate(batch, GenerationParams(num_beams=1), should_stop=lambda: True)
    # One token each, plus the end token transformers would force (counted alike).
    assert stopped.new_tokens <= 2 * len(TEXTS) < full.new_tokens


def test_a_second_load_reuses_the_conversion(
    demo_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec("en-fr", demo_models)
    prepare_model(spec, _placement(tmp_path, "int8"), "ctranslate2")
    converted = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert len(converted) == 1 and converted[0].name.endswith("-int8")

    def no_conversion(*args: object, **kwargs: object) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(ct2_backend, "TransformersConverter", no_conversion)
    model = load_model(spec, _placement(tmp_path, "int8"), "ctranslate2")
    assert model.compute_type == "int8"
    assert len(model.generate(model.encode(TEXTS[:2]), GenerationParams(num_beams=1)).texts) == 2


def test_changed_weights_or_compute_type_convert_again(
    demo_models: dict[str, Path], tmp_path: Path
) -> None:
    source = tmp_path / "model"
    source.mkdir()
    for file in Path(demo_models["en-fr"]).iterdir():
        (source / file.name).write_bytes(file.read_bytes())
    spec = ModelSpec("en-fr", TRANSLATE, str(source))
    cache = tmp_path / "cache"
    prepare_model(spec, _placement(cache, "int8"), "ctranslate2")
    prepare_model(spec, _placement(cache, "float32"), "ctranslate2")
    config = source / "generation_config.json"
    config.write_text(config.read_text().replace("64", "63"))
    prepare_model(spec, _placement(cache, "int8"), "ctranslate2")
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 3


@pytest.mark.parametrize(
    ("requested", "device", "expected"),
    [("auto", CPU, "int8"), ("float32", CPU, "float32"), ("int8", CPU, "int8")],
)
def test_compute_type(requested: str, device: torch.device, expected: str) -> None:
    assert ct2_backend.compute_type(device, torch.float32, requested) == expected


@pytest.mark.parametrize(("requested", "device"), [("float16", CPU), ("auto", torch.device("mps"))])
def test_a_compute_type_or_device_ctranslate2_cannot_use_is_refused(
    requested: str, device: torch.device
) -> None:
    with pytest.raises(ConfigError, match="COMPUTE_TYPE|DEVICE"):
        ct2_backend.compute_type(device, torch.float32, requested)


def test_a_bart_config_without_normalize_before_converts(
    demo_models: dict[str, Path], tmp_path: Path
) -> None:
    """transformers 5 no longer writes `normalize_before` into BART configs, which CTranslate2's
    converter reads: a summariser saved without it (as `make demo` built it before) must load."""
    source = tmp_path / "summarize"
    shutil.copytree(demo_models["summarize"], source)
    config = json.loads((source / "config.json").read_text())
    config.pop("normalize_before", None)
    (source / "config.json").write_text(json.dumps(config))
    spec = ModelSpec(SUMMARIZE, SUMMARIZE, str(source))
    model = load_model(spec, _placement(tmp_path / "ct2"), "ctranslate2")
    generated = model.generate(model.encode(TEXTS[:1]), GenerationParams(num_beams=1, max_length=8))
    assert len(generated.texts) == 1


def test_a_model_the_converter_cannot_handle_is_a_one_line_load_error(
    demo_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Refusing:
        def convert(self, *args: object, **kwargs: object) -> None:
            raise AttributeError("'SomeConfig' object has no attribute 'layer_norm'")

    monkeypatch.setattr(ct2_backend, "_converter", lambda path: Refusing())
    with pytest.raises(ModelLoadError, match="set BACKEND=transformers") as raised:
        load_model(_spec("en-fr", demo_models), _placement(tmp_path), "ctranslate2")
    assert "\n" not in str(raised.value)


def test_without_pytorch_a_conversion_made_ahead_serves_and_a_missing_one_says_how(
    demo_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cpu-slim image has no PyTorch, which the converter needs: it serves conversions made
    ahead by fetch-models, and a model without one is a one-line load error naming the way."""
    spec = _spec("en-fr", demo_models)
    prepare_model(spec, _placement(tmp_path / "ahead", "int8"), "ctranslate2")
    monkeypatch.setattr(ct2_backend, "_pytorch_installed", lambda: False)

    model = load_model(spec, _placement(tmp_path / "ahead", "int8"), "ctranslate2")
    assert len(model.generate(model.encode(TEXTS[:2]), GenerationParams(num_beams=1)).texts) == 2
    with pytest.raises(ModelLoadError, match="fetch-models") as raised:
        load_model(spec, _placement(tmp_path / "empty", "int8"), "ctranslate2")
    assert "\n" not in str(raised.value)


def test_a_model_whose_tokenizer_lacks_ids_is_a_load_error_about_the_model(
    demo_models: dict[str, Path], tmp_path: Path
) -> None:
    """A local model whose vocab_size exceeds its tokenizer (as `demo-models --arch real` built
    it before) cannot be converted: the error says what is wrong with it, not the Hub."""
    from transformers import AutoModelForSeq2SeqLM

    source = tmp_path / "summarize"
    shutil.copytree(demo_models["summarize"], source)
    model = AutoModelForSeq2SeqLM.from_pretrained(source)
    model.resize_token_embeddings(model.config.vocab_size + 88)
    model.save_pretrained(source)
    spec = ModelSpec(SUMMARIZE, SUMMARIZE, str(source))
    with pytest.raises(ModelLoadError, match="vocab_size") as raised:
        load_model(spec, _placement(tmp_path / "ct2"), "ctranslate2")
    message = str(raised.value)
    assert "Hub" not in message
    assert "\n" not in message

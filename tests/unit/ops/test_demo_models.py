import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    AutoConfig,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    BartForConditionalGeneration,
    GenerationConfig,
    MarianMTModel,
)

from service.ops.demo_models import (
    TRAINING_TEXT,
    bart_config,
    bart_tokenizer,
    build_bart,
    build_marian,
    marian_config,
)
from service.ops.demo_text import news_corpus

MODEL_NAMES = ("summarize", "en-fr", "en-ar")
MODEL_CLASSES = {
    "summarize": BartForConditionalGeneration,
    "en-fr": MarianMTModel,
    "en-ar": MarianMTModel,
}


@pytest.fixture
def transformers_warnings() -> Iterator[list[logging.LogRecord]]:
    """Warnings transformers logs (its logger does not propagate, so caplog misses them)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.WARNING)
    transformers_logger = logging.getLogger("transformers")
    transformers_logger.addHandler(handler)
    try:
        yield records
    finally:
        transformers_logger.removeHandler(handler)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_each_directory_loads_with_auto_classes(demo_models: dict[str, Path], name: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(demo_models[name])
    model = AutoModelForSeq2SeqLM.from_pretrained(demo_models[name])

    assert isinstance(model, MODEL_CLASSES[name])
    assert len(tokenizer) <= model.config.vocab_size
    assert tokenizer.pad_token_id == model.config.pad_token_id
    assert tokenizer.eos_token_id == model.config.eos_token_id


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_directories_are_labelled_as_meaningless(demo_models: dict[str, Path], name: str) -> None:
    assert AutoConfig.from_pretrained(demo_models[name]).demo_model is True
    readme = (demo_models[name] / "README.md").read_text(encoding="utf-8")
    assert "RANDOM" in readme
    assert "meaningless" in readme


def test_build_demo_models_returns_one_directory_per_task(demo_models: dict[str, Path]) -> None:
    assert set(demo_models) == set(MODEL_NAMES)
    assert {path.name for path in demo_models.values()} == set(MODEL_NAMES)
    assert len({path.parent for path in demo_models.values()}) == 1


def test_arabic_language_token_is_one_known_token(demo_models: dict[str, Path]) -> None:
    tokenizer = AutoTokenizer.from_pretrained(demo_models["en-ar"])
    ara_id = tokenizer.convert_tokens_to_ids(">>ara<<")

    ids = tokenizer(">>ara<< The council approved a new budget.")["input_ids"]

    assert ara_id != tokenizer.unk_token_id
    assert ids[0] == ara_id
    assert ara_id not in ids[1:]
    assert tokenizer.unk_token_id not in ids


@pytest.mark.parametrize("name", ["en-fr", "en-ar"])
def test_marian_tokenizer_round_trips_english(demo_models: dict[str, Path], name: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(demo_models[name])
    text = TRAINING_TEXT["en"][0]

    ids = tokenizer(text)["input_ids"]

    assert ids[-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_bart_tokenizer_wraps_input_and_round_trips_spaces(demo_models: dict[str, Path]) -> None:
    tokenizer = AutoTokenizer.from_pretrained(demo_models["summarize"])
    text = "Heavy rain  caused flooding, said officials on Monday.\nRivers remain high."

    ids = tokenizer(text)["input_ids"]

    assert ids[0] == tokenizer.bos_token_id == 0
    assert ids[-1] == tokenizer.eos_token_id == 2
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_bart_generation_config_mirrors_distilbart(demo_models: dict[str, Path]) -> None:
    generation = GenerationConfig.from_pretrained(demo_models["summarize"])

    assert generation.num_beams == 4
    assert generation.min_length == 56
    assert generation.max_length == 142
    assert generation.no_repeat_ngram_size == 3
    assert generation.length_penalty == 2.0
    assert generation.early_stopping is True
    assert generation.forced_bos_token_id == 0
    assert generation.decoder_start_token_id == 2


@pytest.mark.parametrize("name", ["en-fr", "en-ar"])
def test_marian_generation_config_mirrors_opus_mt(demo_models: dict[str, Path], name: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(demo_models[name])
    generation = AutoModelForSeq2SeqLM.from_pretrained(demo_models[name]).generation_config

    assert generation.num_beams == 4
    assert generation.max_length == 64
    assert generation.bad_words_ids == [[tokenizer.pad_token_id]]
    assert generation.decoder_start_token_id == tokenizer.pad_token_id
    assert generation.forced_eos_token_id == tokenizer.eos_token_id


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_generate_on_a_padded_batch_decodes_to_strings(
    demo_models: dict[str, Path], name: str, transformers_warnings: list[logging.LogRecord]
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(demo_models[name])
    model = AutoModelForSeq2SeqLM.from_pretrained(demo_models[name])
    prefix = ">>ara<< " if name == "en-ar" else ""
    texts = [prefix + "Heavy rain caused flooding.", prefix + TRAINING_TEXT["en"][1]]

    batch = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        output = model.generate(**batch)
    decoded = tokenizer.batch_decode(output, skip_special_tokens=True)

    assert batch["attention_mask"].min() == 0
    assert len(decoded) == len(texts)
    assert all(isinstance(text, str) for text in decoded)
    assert output.shape[1] <= model.generation_config.max_length
    if name == "summarize":
        assert output.shape[1] >= model.generation_config.min_length
    assert [record.getMessage() for record in transformers_warnings] == []


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(model_dir / "model.safetensors")


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_marian_build_is_deterministic_per_seed(tmp_path: Path) -> None:
    first = build_marian(tmp_path / "a", target_lang="ar", seed=3)
    second = build_marian(tmp_path / "b", target_lang="ar", seed=3)
    other_seed = build_marian(tmp_path / "c", target_lang="ar", seed=4)

    assert _same_weights(_weights(first), _weights(second))
    assert not _same_weights(_weights(first), _weights(other_seed))
    for name in ("vocab.json", "source.spm", "target.spm"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_bart_build_is_deterministic_per_seed(tmp_path: Path) -> None:
    first = build_bart(tmp_path / "a", seed=3)
    second = build_bart(tmp_path / "b", seed=3)
    other_seed = build_bart(tmp_path / "c", seed=4)

    assert _same_weights(_weights(first), _weights(second))
    assert not _same_weights(_weights(first), _weights(other_seed))
    assert (first / "tokenizer.json").read_bytes() == (second / "tokenizer.json").read_bytes()


def test_build_leaves_global_torch_rng_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)

    build_marian(tmp_path / "m", seed=0)

    assert torch.equal(torch.rand(4), expected)


def test_unknown_arch_or_language_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="arch"):
        build_bart(tmp_path / "b", arch="huge")
    with pytest.raises(ValueError, match="target_lang"):
        build_marian(tmp_path / "m", target_lang="de")


def test_real_marian_config_has_opus_mt_shapes() -> None:
    config = marian_config(arch="real", tokenizer_vocab_size=300)

    assert (config.d_model, config.encoder_layers, config.decoder_layers) == (512, 6, 6)
    assert (config.encoder_attention_heads, config.decoder_attention_heads) == (8, 8)
    assert (config.encoder_ffn_dim, config.decoder_ffn_dim) == (2048, 2048)
    assert config.vocab_size == 59514
    assert config.max_position_embeddings == 512
    assert config.scale_embedding is True
    assert config.share_encoder_decoder_embeddings is True
    assert config.pad_token_id == config.decoder_start_token_id == 59513
    assert config.eos_token_id == 0


def test_real_bart_config_has_distilbart_shapes() -> None:
    config = bart_config(arch="real", tokenizer_vocab_size=512)

    assert (config.d_model, config.encoder_layers, config.decoder_layers) == (1024, 12, 6)
    assert (config.encoder_attention_heads, config.decoder_attention_heads) == (16, 16)
    assert (config.encoder_ffn_dim, config.decoder_ffn_dim) == (4096, 4096)
    assert config.vocab_size == 50264
    assert config.max_position_embeddings == 1024
    assert (config.bos_token_id, config.pad_token_id, config.eos_token_id) == (0, 1, 2)


def test_tiny_configs_size_the_vocabulary_to_the_tokenizer() -> None:
    assert marian_config(arch="tiny", tokenizer_vocab_size=300).vocab_size == 300
    assert marian_config(arch="tiny", tokenizer_vocab_size=300).pad_token_id == 299
    assert bart_config(arch="tiny", tokenizer_vocab_size=512).vocab_size == 512


@pytest.mark.slow
def test_real_marian_build_pads_vocab_to_the_real_size(tmp_path: Path) -> None:
    model_dir = build_marian(tmp_path / "en-ar", arch="real", target_lang="ar")
    vocab = json.loads((model_dir / "vocab.json").read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir)

    assert len(vocab) == len(tokenizer) == 59514
    assert vocab["<pad>"] == tokenizer.pad_token_id == 59513
    assert tokenizer(">>ara<< Rain.")["input_ids"][0] == vocab[">>ara<<"]
    assert model.get_input_embeddings().weight.shape == (59514, 512)
    assert model.generation_config.max_length == 512


def test_real_bart_tokenizer_has_distilbart_ids_and_splits_news_like_it() -> None:
    """The "real" summariser converts for CTranslate2 only when its tokenizer has as many ids
    as the model, and chunks an article as distilbart does only when it splits news as finely:
    distilbart's BPE makes 1,090 tokens of the seed article (two chunks of at most 1,024)."""
    seeds = Path(__file__).resolve().parents[3] / "seeds"
    tokenizer, trained = bart_tokenizer("real", corpus=news_corpus(seeds))
    article = (seeds / "qusayr-article.txt").read_text(encoding="utf-8")

    ids = tokenizer(article)["input_ids"]

    assert (
        len(tokenizer) == bart_config(arch="real", tokenizer_vocab_size=len(tokenizer)).vocab_size
    )
    assert len(tokenizer) == 50264
    assert 5_000 < trained < len(tokenizer)
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    assert max(ids) < trained
    assert 1024 < len(ids) < 1200
    assert 4.2 < len(article) / len(ids) < 5.0
    assert tokenizer.decode(ids, skip_special_tokens=True) == article

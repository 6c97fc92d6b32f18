"""Random-weight seq2seq models built locally, for tests, demos and benchmarks.

No machine that runs this service's tests can reach the Hugging Face Hub, so the test suite, the
`demo-models` CLI and the benchmarks build their models here instead of downloading them. Each model
directory is written with `save_pretrained` and loads back with `AutoTokenizer.from_pretrained(dir)`
and `AutoModelForSeq2SeqLM.from_pretrained(dir)`, exactly like a downloaded checkpoint.

Two sizes exist. `arch="tiny"` is a few hundred kilobytes and generates in milliseconds: it is what
the test suite uses. `arch="real"` has the shapes of the production checkpoints (opus-mt-en-fr /
opus-mt-en-ar for Marian, distilbart-cnn-12-6 for BART), including their vocabulary sizes, so a
benchmark sees the real compute and memory cost. Both sizes keep the production models' special
token layout, position limits and generation defaults, so the code that serves them behaves as it
would in production.

The weights are random and the tokenizers are trained on `TRAINING_TEXT`: every output is
meaningless text. The "real" summariser's tokenizer is a byte-level BPE of distilbart's 50,264
ids that splits English news about as finely as distilbart's own (see `build_bart`), so token
counts, chunking and the cost of each chunk are the real model's. Each directory carries
`demo_model: true` in its `config.json` and a README.md that says so.
"""

import io
import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sentencepiece
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForSeq2SeqLM,
    BartConfig,
    BartForConditionalGeneration,
    BartTokenizer,
    GenerationConfig,
    MarianConfig,
    MarianMTModel,
    MarianTokenizer,
)

from service.ops.demo_text import TRAINING_TEXT, bart_training_text

logger = logging.getLogger(__name__)

ARCHS = ("tiny", "real")

# Target language -> the token that opus-mt multi-target models expect at the start of the input.
LANGUAGE_TOKENS = {"fr": ">>fra<<", "ar": ">>ara<<"}


@dataclass(frozen=True)
class _Shape:
    d_model: int
    encoder_layers: int
    decoder_layers: int
    attention_heads: int
    ffn_dim: int
    # None: as many ids as the locally trained tokenizer has.
    vocab_size: int | None
    max_position_embeddings: int
    max_length: int
    # Weight init std. The real models' 0.02 makes a tiny random model ignore its input (every
    # input decodes to the same text); 0.5 makes outputs depend on the input, which tests of
    # batching and request routing need to tell answers apart.
    init_std: float = 0.02


# "real" mirrors Helsinki-NLP/opus-mt-en-fr and sshleifer/distilbart-cnn-12-6. "tiny" keeps their
# position limits so that token budgets and chunking behave as in production.
_MARIAN_SHAPES = {
    "tiny": _Shape(32, 2, 2, 4, 64, None, 512, 64, init_std=0.5),
    "real": _Shape(512, 6, 6, 8, 2048, 59514, 512, 512),
}
_BART_SHAPES = {
    "tiny": _Shape(32, 2, 2, 4, 64, None, 1024, 142, init_std=0.5),
    "real": _Shape(1024, 12, 6, 16, 4096, 50264, 1024, 142),
}

# Pieces the locally trained tokenizers aim for; small corpora may yield fewer.
_MARIAN_SPM_PIECES = 300
_BART_BPE_VOCAB = {"tiny": 512, "real": 10_000}
# Ids the "real" model may generate are the trained ones: the rest get this logit bias, so its
# random output decodes to text that tokenises back to about as many tokens (as a real summary
# does, which decides whether partial summaries need another round).
_UNTRAINED_LOGIT_BIAS = -1e4

# Marian vocab.json layout, as in opus-mt: `</s>` 0, `<unk>` 1, the language tokens, the
# sentencepiece pieces, then `<pad>` as the last id (see `_marian_tokens`).
_MARIAN_EOS_ID = 0

# BART special token ids, as in distilbart-cnn-12-6.
_BART_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_BART_BOS_ID, _BART_PAD_ID, _BART_EOS_ID = 0, 1, 2

_README = """\
# Demo model: {kind}, arch "{arch}" (random weights)

This directory was built locally by `service/ops/demo_models.py`. Its weights are RANDOM
(seed {seed}) and its tokenizer was trained on a few paragraphs of text, so every output is
meaningless text. It exists only for smoke tests, demos and benchmarks; never serve it to users.

Shapes mirror {mirrors} (arch "real") or a tiny version of it (arch "tiny"). `config.json`
carries `"demo_model": true` so that code can recognise it.
"""


def _shape(shapes: dict[str, _Shape], arch: str) -> _Shape:
    if arch not in shapes:
        raise ValueError(f"unknown arch {arch!r}; expected one of {', '.join(ARCHS)}")
    return shapes[arch]


def marian_config(*, arch: str = "tiny", tokenizer_vocab_size: int) -> MarianConfig:
    """The Marian config `build_marian` uses for `arch`, without building any weights.

    `tokenizer_vocab_size` is the number of ids the tokenizer needs; the model's vocab_size is that
    number for "tiny" and the real 59514 for "real" (the ids past the trained pieces are fillers
    that decode to `<unusedN>` text). `<pad>` is always the last id, as in opus-mt, and doubles as
    the decoder start token; `</s>` is id 0.
    """
    shape = _shape(_MARIAN_SHAPES, arch)
    vocab_size = max(shape.vocab_size or 0, tokenizer_vocab_size)
    pad_id = vocab_size - 1
    return MarianConfig(
        vocab_size=vocab_size,
        d_model=shape.d_model,
        encoder_layers=shape.encoder_layers,
        decoder_layers=shape.decoder_layers,
        encoder_attention_heads=shape.attention_heads,
        decoder_attention_heads=shape.attention_heads,
        encoder_ffn_dim=shape.ffn_dim,
        decoder_ffn_dim=shape.ffn_dim,
        max_position_embeddings=shape.max_position_embeddings,
        init_std=shape.init_std,
        activation_function="swish",
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        pad_token_id=pad_id,
        eos_token_id=_MARIAN_EOS_ID,
        forced_eos_token_id=_MARIAN_EOS_ID,
        decoder_start_token_id=pad_id,
        demo_model=True,
    )


def bart_config(*, arch: str = "tiny", tokenizer_vocab_size: int) -> BartConfig:
    """The BART config `build_bart` uses for `arch`, without building any weights.

    The model's vocab_size is `tokenizer_vocab_size` for "tiny" and the real 50264 for "real"
    (whose tokenizer `build_bart` pads to as many ids). Special ids are distilbart's: `<s>` 0,
    `<pad>` 1, `</s>` 2.
    """
    shape = _shape(_BART_SHAPES, arch)
    return BartConfig(
        vocab_size=max(shape.vocab_size or 0, tokenizer_vocab_size),
        d_model=shape.d_model,
        encoder_layers=shape.encoder_layers,
        decoder_layers=shape.decoder_layers,
        encoder_attention_heads=shape.attention_heads,
        decoder_attention_heads=shape.attention_heads,
        encoder_ffn_dim=shape.ffn_dim,
        decoder_ffn_dim=shape.ffn_dim,
        max_position_embeddings=shape.max_position_embeddings,
        init_std=shape.init_std,
        activation_function="gelu",
        # distilbart's config.json says so; BartConfig() lacks it, and CTranslate2's converter
        # reads it.
        normalize_before=False,
        bos_token_id=_BART_BOS_ID,
        pad_token_id=_BART_PAD_ID,
        eos_token_id=_BART_EOS_ID,
        forced_eos_token_id=_BART_EOS_ID,
        decoder_start_token_id=_BART_EOS_ID,
        demo_model=True,
    )


def _train_sentencepiece(paragraphs: list[str], model_path: Path) -> Path:
    # Training from an iterator into memory keeps temporary paths out of the saved trainer spec,
    # so the same text always yields byte-identical .spm files.
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(paragraphs),
        model_writer=model,
        model_type="unigram",
        vocab_size=_MARIAN_SPM_PIECES,
        hard_vocab_limit=False,
        character_coverage=1.0,
        # Marian's special tokens live in vocab.json, not in the sentencepiece model.
        unk_id=0,
        bos_id=-1,
        eos_id=-1,
        pad_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    model_path.write_bytes(model.getvalue())
    return model_path


def _marian_tokens(spm_path: Path) -> list[str]:
    """Every token the tokenizer can produce, in opus-mt order, without `<pad>` (always last)."""
    processor = sentencepiece.SentencePieceProcessor(model_file=str(spm_path))
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    # The sentencepiece model's own <unk> is the one already listed.
    return list(dict.fromkeys(["</s>", "<unk>", *LANGUAGE_TOKENS.values(), *pieces]))


def _marian_vocab(tokens: list[str], vocab_size: int) -> dict[str, int]:
    """Pads `tokens` with never-produced fillers so that `<pad>` lands on id `vocab_size - 1`."""
    fillers = [f"<unused{i}>" for i in range(vocab_size - len(tokens) - 1)]
    return {token: i for i, token in enumerate([*tokens, *fillers, "<pad>"])}


def build_marian(
    out_dir: Path, *, arch: str = "tiny", target_lang: str = "fr", seed: int = 0
) -> Path:
    """Build a random-weight English -> `target_lang` Marian model into `out_dir` and return it.

    The directory is created if missing (files of the same name are overwritten) and holds what an
    opus-mt checkpoint holds: config.json, generation_config.json, weights, source.spm,
    target.spm, vocab.json and tokenizer_config.json, plus a README.md. The vocabulary contains
    `>>fra<<` and `>>ara<<` as single tokens, `</s>` is id 0 and `<pad>` the last id. Generation
    defaults are opus-mt's (4 beams, `<pad>` banned and used as decoder start); max_length is 512
    for "real" and 64 for "tiny". The same arguments always produce the same weights and tokenizer.
    """
    if target_lang not in LANGUAGE_TOKENS:
        raise ValueError(
            f"unknown target_lang {target_lang!r}; expected one of {list(LANGUAGE_TOKENS)}"
        )
    shape = _shape(_MARIAN_SHAPES, arch)
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        paragraphs = [*TRAINING_TEXT["en"], *TRAINING_TEXT[target_lang]]
        spm_path = _train_sentencepiece(paragraphs, work_dir / "source.spm")
        tokens = _marian_tokens(spm_path)
        config = marian_config(arch=arch, tokenizer_vocab_size=len(tokens) + 1)
        vocab = _marian_vocab(tokens, config.vocab_size)
        vocab_path = work_dir / "vocab.json"
        vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        tokenizer = MarianTokenizer(
            source_spm=str(spm_path),
            target_spm=str(spm_path),
            vocab=str(vocab_path),
            source_lang="en",
            target_lang=target_lang,
            model_max_length=shape.max_position_embeddings,
        )
        tokenizer.save_pretrained(out_dir)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MarianMTModel(config)
    model.generation_config = GenerationConfig(
        num_beams=4,
        max_length=shape.max_length,
        bad_words_ids=[[config.pad_token_id]],
        pad_token_id=config.pad_token_id,
        eos_token_id=config.eos_token_id,
        forced_eos_token_id=config.eos_token_id,
        decoder_start_token_id=config.decoder_start_token_id,
    )
    model.save_pretrained(out_dir)
    mirrors = f"Helsinki-NLP/opus-mt-en-{target_lang}"
    _write_readme(out_dir, kind=f"Marian en-{target_lang}", arch=arch, seed=seed, mirrors=mirrors)
    logger.info("built demo Marian en-%s (%s) in %s", target_lang, arch, out_dir)
    return out_dir


def _train_byte_level_bpe(
    paragraphs: list[str], vocab_size: int
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(_BART_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(paragraphs, trainer=trainer)
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return tokenizer.get_vocab(), [tuple(pair) for pair in merges]


def _bart_vocab(vocab: dict[str, int], size: int) -> dict[str, int]:
    """`vocab` padded with never-produced fillers to `size` ids, so that the model's vocabulary
    and the tokenizer's agree (CTranslate2 refuses to convert a model when they differ)."""
    fillers = (f"<unused{i}>" for i in range(size - len(vocab)))
    return {**vocab, **{token: len(vocab) + i for i, token in enumerate(fillers)}}


def bart_tokenizer(arch: str = "tiny", corpus: Sequence[str] = ()) -> tuple[BartTokenizer, int]:
    """The byte-level BPE tokenizer `build_bart` saves, and how many of its ids are trained
    (the rest, for "real", are fillers up to distilbart's 50,264 that no text produces)."""
    shape = _shape(_BART_SHAPES, arch)
    vocab, merges = _train_byte_level_bpe(bart_training_text(arch, corpus), _BART_BPE_VOCAB[arch])
    trained = len(vocab)
    if shape.vocab_size:
        vocab = _bart_vocab(vocab, shape.vocab_size)
    tokenizer = BartTokenizer(
        vocab=vocab, merges=merges, model_max_length=shape.max_position_embeddings
    )
    return tokenizer, trained


def build_bart(
    out_dir: Path, *, arch: str = "tiny", seed: int = 0, corpus: Sequence[str] = ()
) -> Path:
    """Build a random-weight BART summariser into `out_dir` and return it.

    The directory is created if missing (files of the same name are overwritten) and holds
    config.json, generation_config.json, weights, a byte-level BPE tokenizer (tokenizer.json,
    tokenizer_config.json) and a README.md. The tokenizer wraps inputs in `<s> ... </s>` and
    decodes back to the original text, spaces included. Special ids and generation defaults are
    distilbart-cnn-12-6's: 4 beams, min_length 56, max_length 142, no_repeat_ngram_size 3,
    length_penalty 2.0, early stopping, `<s>` forced first, `</s>` as decoder start. For "real"
    the tokenizer is trained on `bart_training_text("real", corpus)` (give it English news for
    realistic token counts) and padded to distilbart's 50,264 ids; the model generates only the
    trained ones. The same arguments always produce the same weights and tokenizer.
    """
    shape = _shape(_BART_SHAPES, arch)
    out_dir = Path(out_dir)
    tokenizer, trained = bart_tokenizer(arch, corpus)
    tokenizer.save_pretrained(out_dir)

    config = bart_config(arch=arch, tokenizer_vocab_size=len(tokenizer))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BartForConditionalGeneration(config)
    with torch.no_grad():
        model.final_logits_bias[:, trained:] = _UNTRAINED_LOGIT_BIAS
    model.generation_config = GenerationConfig(
        num_beams=4,
        min_length=56,
        max_length=shape.max_length,
        no_repeat_ngram_size=3,
        length_penalty=2.0,
        early_stopping=True,
        bos_token_id=config.bos_token_id,
        pad_token_id=config.pad_token_id,
        eos_token_id=config.eos_token_id,
        forced_bos_token_id=config.bos_token_id,
        forced_eos_token_id=config.eos_token_id,
        decoder_start_token_id=config.decoder_start_token_id,
    )
    model.save_pretrained(out_dir)
    _write_readme(
        out_dir,
        kind="BART summariser",
        arch=arch,
        seed=seed,
        mirrors="sshleifer/distilbart-cnn-12-6",
    )
    logger.info("built demo BART (%s) in %s", arch, out_dir)
    return out_dir


def _write_readme(out_dir: Path, *, kind: str, arch: str, seed: int, mirrors: str) -> None:
    text = _README.format(kind=kind, arch=arch, seed=seed, mirrors=mirrors)
    (out_dir / "README.md").write_text(text, encoding="utf-8")


def build_demo_models(
    out_dir: Path, *, arch: str = "tiny", corpus: Sequence[str] = ()
) -> dict[str, Path]:
    """Build every model the service serves, with random weights, under `out_dir`.

    Returns `{"summarize": out_dir/summarize, "en-fr": out_dir/en-fr, "en-ar": out_dir/en-ar}`,
    each a directory that `from_pretrained` loads (see `build_bart` and `build_marian`; `corpus`
    is English news for the "real" summariser's tokenizer).
    """
    out_dir = Path(out_dir)
    return {
        "summarize": build_bart(out_dir / "summarize", arch=arch, corpus=corpus),
        "en-fr": build_marian(out_dir / "en-fr", arch=arch, target_lang="fr"),
        "en-ar": build_marian(out_dir / "en-ar", arch=arch, target_lang="ar"),
    }


def build_near_ties(model_dir: Path, out_dir: Path) -> Path:
    """Copy the demo model at `model_dir` into `out_dir` with near-tie token pairs; return it.

    Every odd token id from 5 on gets the embedding (and so, tied, the output row) of the even
    id before it, with about half its numbers moved by one unit in the last place. Whenever one
    of a pair is the likely next token, which of the two wins depends on the last bits of the
    decoder's numbers, so any change in how an input's numbers are summed (its padding, its
    batch-mates) shows up in its output text. A stress model for batch invariance: a plain
    random-weight model shows such a flip only now and then.
    """
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir)
    weights = model.get_input_embeddings().weight
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        even = torch.arange(4, weights.shape[0] - 1, 2)
        rows = weights[even]
        towards = torch.where(
            torch.rand(rows.shape, generator=generator) < 0.5, torch.inf, -torch.inf
        )
        moved = torch.rand(rows.shape, generator=generator) < 0.5
        weights[even + 1] = torch.where(moved, torch.nextafter(rows, towards), rows)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for file in Path(model_dir).iterdir():
        if file.is_file() and not file.name.startswith("model"):
            shutil.copy(file, out_dir / file.name)
    model.save_pretrained(out_dir)
    logger.info("built near-tie copy of %s in %s", model_dir, out_dir)
    return out_dir

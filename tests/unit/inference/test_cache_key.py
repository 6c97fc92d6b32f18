"""Cache keys: every field that decides an output changes the digest; nothing else does."""

from __future__ import annotations

import dataclasses

import pytest

from service.inference.cache_key import FORMAT, KeyMaker, ModelIdentity, batch_invariant, keepable

IDENTITY = ModelIdentity(
    source="Helsinki-NLP/opus-mt-en-fr",
    revision="abc123",
    backend="ctranslate2",
    libraries="torch=2.13.0,ctranslate2=4.8.5",
    compute_type="int8",
    device="cpu:AVX2",
    threads=2,
    bucket_tokens=128,
    prefix="",
    max_output_tokens=512,
    generation_defaults={"num_beams": 4, "max_length": 512},
)
IDS = [12, 7, 9, 0]


def digest(identity: ModelIdentity = IDENTITY, options=None, ids=IDS) -> str:
    return KeyMaker(identity).digest(options or {}, ids)


def test_the_same_input_gets_the_same_key_from_any_key_maker() -> None:
    assert digest() == digest() == KeyMaker(dataclasses.replace(IDENTITY)).digest({}, list(IDS))
    assert len(digest()) == 64 and int(digest(), 16) >= 0


@pytest.mark.parametrize(
    "change",
    [
        {"source": "Helsinki-NLP/opus-mt-en-de"},
        {"revision": "def456"},
        {"backend": "transformers"},
        {"libraries": "torch=2.13.1,ctranslate2=4.8.5"},
        {"compute_type": "float32"},
        {"device": "cpu:AVX512"},
        {"threads": 1},
        {"bucket_tokens": 0},
        {"prefix": ">>fra<< "},
        {"max_output_tokens": 256},
        {"generation_defaults": {"num_beams": 1, "max_length": 512}},
    ],
)
def test_every_identity_field_changes_the_key(change: dict) -> None:
    assert digest(dataclasses.replace(IDENTITY, **change)) != digest()


def test_generation_options_and_input_change_the_key() -> None:
    assert digest(options={"num_beams": 1}) != digest()
    assert digest(options={"num_beams": 1}) != digest(options={"num_beams": 2})
    assert digest(options={"max_length": 1}) != digest(options={"min_length": 1})
    assert digest(ids=[12, 7, 9]) != digest()
    assert digest(ids=[1, 27]) != digest(ids=[12, 7])  # no separator ambiguity
    assert digest(ids=[]) != digest()


def test_option_order_does_not_matter() -> None:
    both = {"num_beams": 1, "max_length": 8}
    assert digest(options=both) == digest(options=dict(reversed(list(both.items()))))


def test_the_fingerprint_holds_every_field_and_the_format() -> None:
    fingerprint = IDENTITY.fingerprint().decode()
    for field in dataclasses.fields(ModelIdentity):
        assert f'"{field.name}"' in fingerprint
    assert f'"format": "{FORMAT}"' in fingerprint


def test_a_key_holds_no_text() -> None:
    key = digest(ids=[ord(c) for c in "secret"])
    assert "secret" not in key and set(key) <= set("0123456789abcdef")


@pytest.mark.parametrize(
    ("backend", "device", "compute_type", "bucket", "invariant"),
    [
        ("transformers", "cpu:AVX2", "float32", 128, True),
        ("ctranslate2", "cpu:AVX512", "int8", 128, True),
        ("ctranslate2", "cpu", "int8", 1, True),
        ("ctranslate2", "cpu:AVX2", "int8", 0, False),  # buckets off
        ("transformers", "cpu:AVX2", "float32", 0, False),
        ("ctranslate2", "cpu:AVX2", "float32", 128, False),  # its kernels change with the batch
        ("ctranslate2", "cpu:AVX2", "int8_float16", 128, False),
        ("transformers", "cpu:AVX2", "bfloat16", 128, False),
        ("ctranslate2", "cuda:NVIDIA H100", "int8", 128, False),  # GPUs: not measured
        ("transformers", "cuda:NVIDIA H100", "float32", 128, False),
        ("transformers", "mps", "float32", 128, False),
        ("transformers", "cpux", "float32", 128, False),
    ],
)
def test_batch_invariance_is_claimed_only_where_measured(
    backend: str, device: str, compute_type: str, bucket: int, invariant: bool
) -> None:
    assert batch_invariant(backend, device, compute_type, bucket) is invariant


def test_only_outputs_computed_alone_are_kept_where_not_invariant() -> None:
    assert keepable(True, 1) and keepable(True, 32)
    assert keepable(False, 1)
    assert not keepable(False, 2)

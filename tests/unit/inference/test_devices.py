"""DEVICE and DTYPE resolution for machines we do not have, and thread settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from service.core.config import Settings
from service.core.errors import ConfigError
from service.inference import devices
from service.inference.devices import (
    Accelerators,
    choose_device,
    choose_dtype,
    configure_cpu_threads,
    probe_accelerators,
)
from service.inference.engine import resolve_placement
from service.inference.registry import TRANSLATE, ModelSpec, load_model
from service.inference.seq2seq import GenerationParams, Placement

CPU_ONLY = Accelerators(cuda_count=0, cuda_bf16=False, mps=False)
MAC = Accelerators(cuda_count=0, cuda_bf16=False, mps=True)
ONE_OLD_GPU = Accelerators(cuda_count=1, cuda_bf16=False, mps=False)
TWO_NEW_GPUS = Accelerators(cuda_count=2, cuda_bf16=True, mps=False)


@pytest.mark.parametrize(
    ("spec", "accelerators", "expected"),
    [
        ("auto", TWO_NEW_GPUS, torch.device("cuda", 0)),
        ("auto", MAC, torch.device("mps")),
        ("auto", CPU_ONLY, torch.device("cpu")),
        ("cpu", TWO_NEW_GPUS, torch.device("cpu")),
        ("cuda", ONE_OLD_GPU, torch.device("cuda", 0)),
        ("cuda:1", TWO_NEW_GPUS, torch.device("cuda", 1)),
        (" CUDA:0 ", TWO_NEW_GPUS, torch.device("cuda", 0)),
        ("mps", MAC, torch.device("mps")),
    ],
)
def test_choose_device(spec: str, accelerators: Accelerators, expected: torch.device) -> None:
    assert choose_device(spec, accelerators) == expected


@pytest.mark.parametrize(
    ("spec", "accelerators", "message"),
    [
        ("cuda", CPU_ONLY, "0 CUDA device"),
        ("cuda:2", TWO_NEW_GPUS, "CUDA device 2 is not available"),
        ("mps", CPU_ONLY, "MPS is not available"),
        ("gpu", TWO_NEW_GPUS, "expected auto, cpu"),
        ("cuda:", TWO_NEW_GPUS, "expected auto, cpu"),
        ("cuda:-1", TWO_NEW_GPUS, "expected auto, cpu"),
        ("", TWO_NEW_GPUS, "expected auto, cpu"),
        ("auto:0", TWO_NEW_GPUS, "auto takes no index"),
        ("cpu:0", TWO_NEW_GPUS, "cpu takes no index"),
    ],
)
def test_choose_device_refuses(spec: str, accelerators: Accelerators, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        choose_device(spec, accelerators)
    assert "DEVICE=" in str(raised.value)


@pytest.mark.parametrize(
    ("spec", "device", "accelerators", "expected"),
    [
        ("auto", torch.device("cpu"), CPU_ONLY, torch.float32),
        ("auto", torch.device("mps"), MAC, torch.float32),
        ("auto", torch.device("cuda", 0), TWO_NEW_GPUS, torch.bfloat16),
        ("auto", torch.device("cuda", 0), ONE_OLD_GPU, torch.float16),
        ("float16", torch.device("cuda", 0), TWO_NEW_GPUS, torch.float16),
        ("bfloat16", torch.device("cuda", 0), TWO_NEW_GPUS, torch.bfloat16),
        ("float32", torch.device("cuda", 0), TWO_NEW_GPUS, torch.float32),
        ("FLOAT32", torch.device("cpu"), CPU_ONLY, torch.float32),
        ("float16", torch.device("mps"), MAC, torch.float16),
    ],
)
def test_choose_dtype(
    spec: str, device: torch.device, accelerators: Accelerators, expected: torch.dtype
) -> None:
    assert choose_dtype(spec, device, accelerators) == expected


@pytest.mark.parametrize("spec", ["float16", "bfloat16"])
def test_half_precision_on_cpu_is_refused(spec: str) -> None:
    with pytest.raises(ConfigError, match="only float32 is supported on CPU"):
        choose_dtype(spec, torch.device("cpu"), CPU_ONLY)


@pytest.mark.parametrize("spec", ["fp16", "float64", "half", ""])
def test_unknown_dtype_is_refused(spec: str) -> None:
    with pytest.raises(ConfigError, match="DTYPE="):
        choose_dtype(spec, torch.device("cuda", 0), TWO_NEW_GPUS)


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("restore_threads")
def test_configure_cpu_threads() -> None:
    assert configure_cpu_threads(1) == 1
    assert torch.get_num_threads() == 1
    cores = len(os.sched_getaffinity(0))
    assert configure_cpu_threads(0) == cores
    assert torch.get_num_threads() == cores


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_tiny_model_runs_in_half_precision_on_cuda(demo_models: dict[str, Path]) -> None:
    spec = ModelSpec("en-fr", TRANSLATE, str(demo_models["en-fr"]))
    model = load_model(spec, Placement(device=torch.device("cuda", 0), dtype=torch.float16))
    assert model.device.type == "cuda"
    assert model.dtype == torch.float16
    texts = [
        "Heavy rain caused flooding.",
        "Officials said the plan would add two hundred buses to the network next year.",
    ]
    generated = model.generate(model.encode(texts), GenerationParams(num_beams=2, max_length=16))
    assert len(generated.texts) == 2
    assert generated.new_tokens > 0


@pytest.mark.parametrize(("backend", "device"), [("transformers", "mps"), ("ctranslate2", "cpu")])
def test_auto_on_a_mac_picks_a_device_the_backend_runs_on(backend: str, device: str) -> None:
    settings = Settings.defaults(backend=backend, torch_threads=1)
    _, placement = resolve_placement(settings, MAC)
    assert placement.device.type == device


def test_without_pytorch_there_is_the_cpu_and_a_named_dtype(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cpu-slim image serves CTranslate2 without PyTorch installed: DEVICE=auto is the CPU,
    DTYPE its name, and a GPU asked for is refused as on any machine without one."""
    monkeypatch.setattr(devices, "torch", None)
    threads = torch.get_num_threads()

    assert probe_accelerators() == CPU_ONLY
    _, placement = resolve_placement(Settings.defaults(backend="ctranslate2", torch_threads=1))
    device = placement.device
    assert (device.type, device.index, str(device)) == ("cpu", None, "cpu")
    assert (placement.dtype, placement.compute_type, placement.threads) == ("float32", "int8", 1)
    assert torch.get_num_threads() == threads
    with pytest.raises(ConfigError, match="not available"):
        choose_device("cuda", probe_accelerators())

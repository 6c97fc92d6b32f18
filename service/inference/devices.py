"""Device and dtype resolution: `DEVICE` and `DTYPE` settings to a torch device and dtype.

The choice is a pure function of the settings and of what `probe_accelerators` found, so it can be
tested for machines we do not have. Probing initialises CUDA; call it only in the serving process
(after gunicorn forks), never in the gunicorn master.

Without PyTorch installed (the `cpu-slim` image, which serves CTranslate2 conversions made
ahead), there is only the CPU: the device is a `HostCpu` with the `type` and `index` a
`torch.device` has, and the dtype is named, `"float32"`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from service.core.errors import ConfigError

try:
    import torch
except ImportError:  # the cpu-slim image: CTranslate2 on the CPU
    torch = None  # type: ignore[assignment]

_DTYPE_NAMES = ("float32", "float16", "bfloat16")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")


@dataclass(frozen=True)
class Accelerators:
    """What this process can use: CUDA device count, whether CUDA supports bf16, MPS."""

    cuda_count: int
    cuda_bf16: bool
    mps: bool


@dataclass(frozen=True)
class HostCpu:
    """The CPU where PyTorch is not installed: what the CTranslate2 backend reads of a device."""

    type: str = "cpu"
    index: int | None = None

    def __str__(self) -> str:
        return self.type


def probe_accelerators() -> Accelerators:
    """Ask torch which accelerators are present (initialises CUDA if there is one); none
    without PyTorch."""
    if torch is None:
        return Accelerators(cuda_count=0, cuda_bf16=False, mps=False)
    cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps_backend = getattr(torch.backends, "mps", None)
    return Accelerators(
        cuda_count=cuda_count,
        cuda_bf16=bool(cuda_count) and torch.cuda.is_bf16_supported(),
        mps=bool(mps_backend and mps_backend.is_available()),
    )


def choose_device(spec: str, accelerators: Accelerators) -> torch.device | HostCpu:
    """Resolve a DEVICE value. `auto` prefers CUDA, then MPS, then CPU.

    Raises ConfigError for a malformed value or a device that is not present: asking for
    `cuda` on a machine without one is a deployment mistake, not something to paper over.
    """
    match = _DEVICE_RE.match(spec.strip().lower())
    if not match:
        raise ConfigError(f"DEVICE={spec!r}: expected auto, cpu, mps, cuda or cuda:N")
    kind, index = match.group(1), match.group(2)
    if kind == "auto":
        if index is not None:
            raise ConfigError(f"DEVICE={spec!r}: auto takes no index")
        if accelerators.cuda_count:
            return torch.device("cuda", 0)
        if accelerators.mps:
            return torch.device("mps")
        return torch.device("cpu") if torch is not None else HostCpu()
    if kind == "cuda":
        n = int(index or 0)
        if n >= accelerators.cuda_count:
            found = accelerators.cuda_count
            raise ConfigError(
                f"DEVICE={spec!r}: CUDA device {n} is not available ({found} CUDA device(s) "
                "visible). Use DEVICE=cpu or DEVICE=auto, or check the GPU driver and "
                "CUDA_VISIBLE_DEVICES."
            )
        return torch.device("cuda", n)
    if kind == "mps":
        if not accelerators.mps:
            raise ConfigError(f"DEVICE={spec!r}: MPS is not available on this machine")
        return torch.device("mps")
    if index is not None:
        raise ConfigError(f"DEVICE={spec!r}: cpu takes no index")
    return torch.device("cpu") if torch is not None else HostCpu()


def choose_dtype(
    spec: str, device: torch.device | HostCpu, accelerators: Accelerators
) -> torch.dtype | str:
    """Resolve a DTYPE value for `device`.

    `auto` is float32 on CPU and MPS (half precision is slow or unsupported there), bfloat16 on
    CUDA devices that support it (same range as float32, so no overflow in long generations),
    float16 on older CUDA devices. Half precision on CPU is refused.
    """
    name = spec.strip().lower()
    if name == "auto":
        name = "float32"
        if device.type == "cuda":
            name = "bfloat16" if accelerators.cuda_bf16 else "float16"
    if name not in _DTYPE_NAMES:
        raise ConfigError(f"DTYPE={spec!r}: expected auto, float32, float16 or bfloat16")
    if device.type == "cpu" and name != "float32":
        raise ConfigError(
            f"DTYPE={spec!r}: only float32 is supported on CPU; set DTYPE=auto or DTYPE=float32 "
            "(float16 and bfloat16 are for GPUs)"
        )
    return getattr(torch, name) if torch is not None else name


def configure_cpu_threads(requested: int) -> int:
    """Set torch's intra-op thread count; 0 means one per core this process may use.

    Returns the count in force. Inter-op threads are left alone: each model worker runs one
    `generate` at a time.
    """
    n = requested or len(os.sched_getaffinity(0))
    if torch is not None:
        torch.set_num_threads(n)
    return n

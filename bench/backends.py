"""Backends side by side in `python -m bench throughput --backends ...`.

Each backend (`transformers`, or `ctranslate2:COMPUTE_TYPE`) gets its own gunicorn with batching
on and off; `throughput` measures them in the same interleaved rounds as its other stages, with
the lone-client latency of every server and each worker's RSS after the load. This module names
the servers, sets their BACKEND/COMPUTE_TYPE, and prints the side-by-side table with the ratios
against transformers at equal K. ctranslate2:int8 with batching off (MAX_BATCH_SIZE=1) is
LibreTranslate's serving shape: CTranslate2 int8, one translation at a time.

Translation only: the real-shape BART does not convert to CTranslate2 (its demo tokenizer has a
few hundred ids, the model 50264), so once a CTranslate2 backend is in the list every server,
transformers' included, loads the tiny BART as its summariser, and the RSS compares the
translation model and the runtime alike. `--backends transformers` alone changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import _verdict, table
from service.ops.demo_models import build_bart

BASELINE = "transformers"
LIBRETRANSLATE = "ctranslate2:int8"
# Targets from the issue: throughput vs transformers at equal K (batching on), at K=1 and 32.
TARGET_VS_TRANSFORMERS = {"ctranslate2:int8": 3.0, "ctranslate2:float32": 1.8}
TARGET_K = (1, 32)
TARGET_LONE_P50 = 0.4  # lone-request p50 vs transformers', at most
TARGET_VS_LIBRETRANSLATE = 3.0  # ctranslate2:int8 batching on vs off at K=32, at least


def parse(raw: str) -> list[str]:
    """`transformers,ctranslate2:int8,...` as a list; transformers (the baseline) is required."""
    specs = [s.strip() for s in raw.split(",") if s.strip()]
    for spec in specs:
        backend, _, compute = spec.partition(":")
        if backend not in ("transformers", "ctranslate2") or (backend == BASELINE and compute):
            raise ValueError(f"--backends: {spec!r} is not transformers or ctranslate2[:TYPE]")
    if BASELINE not in specs:
        raise ValueError("--backends must include transformers, the baseline of the ratios")
    return specs


def server_name(spec: str, batching: str) -> str:
    """`on`/`off` for transformers (today's names), else e.g. `ctranslate2-int8-on`."""
    return batching if spec == BASELINE else f"{spec.replace(':', '-')}-{batching}"


def env(spec: str, args: Any, summarize: Path) -> dict[str, str]:
    """A server's backend settings, and its summariser (see `summarizer`)."""
    backend, _, compute = spec.partition(":")
    return {
        "BACKEND": backend,
        "COMPUTE_TYPE": compute or "auto",
        "CT2_CACHE_DIR": str(args.out / "ct2"),
        "SUMMARIZE_MODEL": str(summarizer(args.backends, args.out / "models", summarize)),
    }


def summarizer(specs: list[str], models: Path, real: Path) -> Path:
    """The summariser every server loads: the real-shape BART unless CTranslate2 is compared."""
    if specs == [BASELINE]:
        return real
    tiny = models / "bart-tiny"
    return tiny if (tiny / "config.json").is_file() else build_bart(tiny, arch="tiny")


def _label(spec: str, batching: str) -> str:
    shape = (
        " (LibreTranslate's serving shape)" if (spec, batching) == (LIBRETRANSLATE, "off") else ""
    )
    return f"{spec}, batching {batching}{shape}"


def _speed(tr: dict[str, Any], spec: str, batching: str) -> dict[int, float]:
    return {p["clients"]: p["items_per_s"] for p in tr[f"http_{server_name(spec, batching)}"]}


def compare(tr: dict[str, Any]) -> dict[str, Any]:
    """Ratios against transformers at equal K and batching, and the issue's targets."""
    specs, lone = tr["backends"], tr["lone_latency_ms"]
    out: dict[str, Any] = {"vs_transformers": {}, "lone_p50_vs_transformers": {}, "targets": []}
    for spec in specs:
        for batching in ("on", "off"):
            base, own = _speed(tr, BASELINE, batching), _speed(tr, spec, batching)
            out["vs_transformers"][server_name(spec, batching)] = {
                k: own[k] / base[k] if base[k] else None for k in own
            }
            name = server_name(spec, batching)
            out["lone_p50_vs_transformers"][name] = lone[name]["p50"] / lone[batching]["p50"]
    for spec, target in TARGET_VS_TRANSFORMERS.items():
        for k in (k for k in TARGET_K if spec in specs and k in _speed(tr, spec, "on")):
            value = out["vs_transformers"][server_name(spec, "on")][k]
            out["targets"].append(
                f"{spec} on / transformers on, K={k}: " + _verdict(value, target, at_least=True)
            )
    for spec in specs[1:]:
        value = out["lone_p50_vs_transformers"][server_name(spec, "on")]
        line = _verdict(value, TARGET_LONE_P50, at_least=False)
        out["targets"].append(f"{spec} lone p50 / transformers': {line}")
    if LIBRETRANSLATE in specs and 32 in _speed(tr, LIBRETRANSLATE, "on"):
        on, off = _speed(tr, LIBRETRANSLATE, "on")[32], _speed(tr, LIBRETRANSLATE, "off")[32]
        line = _verdict(on / off, TARGET_VS_LIBRETRANSLATE, at_least=True)
        out["targets"].append(f"{LIBRETRANSLATE} on / LibreTranslate's shape, K=32: {line}")
    return out


def tables(tr: dict[str, Any]) -> str:
    """Throughput per K (and the ratio against transformers), lone p50, RSS after the load."""
    ratios = tr["backend_ratios"]
    ks = [p["clients"] for p in tr["http_on"]]
    headers = ["backend", *(f"K={k} items/s (x tf)" for k in ks)]
    headers += ["lone p50 ms (x tf)", "RSS MiB"]
    rows = []
    for spec in tr["backends"]:
        for batching in ("on", "off"):
            name, speed = server_name(spec, batching), _speed(tr, spec, batching)
            vs = ratios["vs_transformers"][name]
            lone = tr["lone_latency_ms"][name]["p50"]
            rows.append(
                [_label(spec, batching)]
                + [f"{speed[k]:.2f} ({vs[k] or 0:.2f}x)" for k in ks]
                + [f"{lone:.1f} ({ratios['lone_p50_vs_transformers'][name]:.2f}x)"]
                + [tr["rss_mib"].get(name)]
            )
    return "\n\n".join(
        [
            "## Backends side by side (HTTP, /v1/translate; x tf: vs transformers at equal K)",
            table(headers, rows),
            "\n".join(ratios["targets"]),
        ]
    )

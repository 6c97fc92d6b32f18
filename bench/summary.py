"""summary: seconds per article summary at the real model's shape, service against raw ceiling.

An editor's first request: POST an article, wait for its summary. This times it where it is
slowest, at distilbart-cnn-12-6's shape on the CPU (`demo-models --arch real`: its layers, its
50,264 ids, a tokenizer that cuts news into as many tokens as distilbart's). For each backend,
article, beam count and number of concurrent clients it runs the service's summarise operation
(`service.tasks.summarize` on a started `Engine`: chunking, the batch queue, every round; HTTP
adds milliseconds, see `request-path`) and reports seconds per article, the chunks and rounds,
the input and generated tokens the engine counted, and the raw ceiling: one `generate` of the
same first-round chunks (every client's together, each with the length SUMMARY_PARTIALS gives
it) on the same loaded model, with nothing of the service around it (no queue, no buckets or
filler rows, no second round). `vs ceiling` is the
service's seconds over the ceiling's: what the service's own choices cost. `CPU s` is the
process's CPU time per article (all its threads): on a machine shared with other work, wall
time swings with their load, CPU time much less (with one thread, `--torch-threads 1`, it is
the work done; with more, idle threads spinning count too).

Random weights never stop early: every summary runs to the model's 142-token maximum, as long as
a real summary may be (real ones often end sooner, so real times are at most these). `--env`
passes settings to every engine (`--env TORCH_THREADS=1`); `--variant NAME:A=1,B=2` (repeated)
starts one engine per variant and times them in turns, cell by cell, so that a lever is measured
against the defaults side by side on a shared machine whose load comes and goes.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import torch

from bench.report import log, save, table
from harness.models import SEEDS, prepare_summarizer
from service.core.config import Settings
from service.inference.engine import Engine
from service.inference.registry import SUMMARIZE
from service.inference.seq2seq import GenerationParams, Seq2SeqModel
from service.tasks import chunk_for_model, summarize_texts
from service.tasks.generation import GenerationOptions
from service.tasks.summary_partials import partial_params

ARTICLES = ("qusayr-article.txt", "long-report.txt")
BACKENDS = "ctranslate2:int8,transformers"
# Summarised once per engine before timing: loads lazily built kernels and caches.
_WARM_UP = "short-brief.txt"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    def ints(raw: str) -> list[int]:
        return [int(v) for v in raw.split(",") if v.strip()]

    parser.add_argument("--backends", default=BACKENDS, help=f"(default {BACKENDS})")
    parser.add_argument("--articles", default=",".join(ARTICLES), help="files in seeds/")
    parser.add_argument("--beams", type=ints, default=[4, 1], help="(default 4,1)")
    parser.add_argument("--clients", type=ints, default=[1, 4], help="(default 1,4)")
    parser.add_argument("--reps", type=int, default=1, help="timed runs per cell (median)")
    parser.add_argument("--torch-threads", type=int, default=0, help="TORCH_THREADS")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="a setting, repeatable"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:A=1,B=2",
        help="settings to compare side by side, taking turns (repeatable; --env applies to all)",
    )
    parser.add_argument("--no-ceiling", action="store_true", help="skip the raw generate")
    parser.add_argument("--name", default="summary", help="JSON file name (default summary)")


def _backend_env(spec: str) -> dict[str, str]:
    backend, _, numeric = spec.partition(":")
    if backend == "transformers":
        return {"BACKEND": backend, "DTYPE": numeric or "auto"}
    return {"BACKEND": backend, "COMPUTE_TYPE": numeric or "auto"}


def _counters(engine: Engine) -> dict[str, float]:
    registry = engine.metrics.registry
    labels = {"model": SUMMARIZE}
    names = ("service_input_tokens_total", "service_generated_tokens_total")
    batches = registry.get_sample_value("service_batches_total", labels | {"outcome": "ok"})
    counts = {name: registry.get_sample_value(name, labels) or 0.0 for name in names}
    return counts | {"batches": batches or 0.0}


def service_run(
    engine: Engine, text: str, beams: int, clients: int
) -> tuple[float, list[Any], dict[str, float]]:
    """`clients` threads each summarise `text` at once; wall seconds, their summaries and what
    the engine counted meanwhile."""
    options = GenerationOptions(num_beams=beams)
    before = _counters(engine)
    results: list[Any] = [None] * clients
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            results[i] = summarize_texts(engine, [text], options)[0]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    after = _counters(engine)
    return wall, results, {k: after[k] - before[k] for k in after}


def raw_generate(model: Seq2SeqModel, chunks: list[list[int]], params: GenerationParams) -> float:
    """Seconds of one plain generate of `chunks` on the loaded model: CTranslate2's
    `translate_batch` or transformers' `generate`, padded to the longest, with the options the
    service passes for `params`."""
    started = time.perf_counter()
    if model.backend == "ctranslate2":
        tokens = model._tokens  # the converted vocabulary
        forced = model.generation_config.forced_bos_token_id
        prefix = None if forced is None else [[tokens[forced]] for _ in chunks]
        model.translator.translate_batch(  # type: ignore[attr-defined]
            [[tokens[i] for i in ids] for ids in chunks],
            target_prefix=prefix,
            **model.decoding_options(params),  # type: ignore[attr-defined]
        )
    else:
        width = max(map(len, chunks))
        input_ids = torch.full((len(chunks), width), model.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for row, ids in enumerate(chunks):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
        with torch.inference_mode():
            model.model.generate(  # type: ignore[attr-defined]
                input_ids=input_ids, attention_mask=mask, **params.overrides()
            )
    return time.perf_counter() - started


def _measure(
    engine: Engine, chunks: list[list[int]], text: str, beams: int, clients: int, ceiling: bool
) -> dict[str, Any]:
    """One timed run of the service, and of the raw ceiling for the same first round."""
    model = engine.model(SUMMARIZE)
    # The first round's work as the service asks for it: each chunk's partial summary length.
    summary_params = GenerationOptions(num_beams=beams).params_for(model)
    mode = engine.settings.summary_partials
    params = partial_params(summary_params, model.generation_defaults(), len(chunks), mode)
    cpu = time.process_time()
    wall, summaries, counted = service_run(engine, text, beams, clients)
    cpu_service = time.process_time() - cpu
    cpu = time.process_time()
    raw = raw_generate(model, chunks * clients, params) if ceiling else None
    return {
        "wall": wall,
        "cpu": cpu_service,
        "ceiling": raw,
        "ceiling_cpu": time.process_time() - cpu if ceiling else None,
        "chunks": summaries[0].chunks,
        "rounds": summaries[0].rounds,
        **{name: value / clients for name, value in counted.items()},
    }


def _row(runs: list[dict[str, Any]], clients: int) -> dict[str, Any]:
    walls = [r["wall"] for r in runs]
    ceilings = [r["ceiling"] for r in runs if r["ceiling"] is not None]
    per_article = statistics.median(walls) / clients
    ceiling = statistics.median(ceilings) / clients if ceilings else None
    cpu = statistics.median(r["cpu"] for r in runs) / clients
    cpu_ceilings = [r["ceiling_cpu"] for r in runs if r["ceiling_cpu"] is not None]
    cpu_ceiling = statistics.median(cpu_ceilings) / clients if cpu_ceilings else None
    return {
        "cpu_s_per_article": cpu,
        "ceiling_cpu_s_per_article": cpu_ceiling,
        "cpu_vs_ceiling": cpu / cpu_ceiling if cpu_ceiling else None,
        "s_per_article": per_article,
        "latency_s": statistics.median(walls),
        "runs_s": walls,
        "chunks": runs[-1]["chunks"],
        "rounds": runs[-1]["rounds"],
        "batches": runs[-1]["batches"],
        "input_tokens": runs[-1]["service_input_tokens_total"],
        "generated_tokens": runs[-1]["service_generated_tokens_total"],
        "ceiling_s_per_article": ceiling,
        "ceiling_runs_s": ceilings,
        "vs_ceiling": per_article / ceiling if ceiling else None,
    }


def _cells(
    engines: dict[str, Engine], article: str, beams: int, clients: int, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """One row per variant; the variants take turns, rep by rep, so load on a shared machine
    falls on all of them alike."""
    text = (SEEDS / article).read_text(encoding="utf-8")
    first = next(iter(engines.values()))
    chunks = chunk_for_model(first.model(SUMMARIZE), text)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in engines}
    for _ in range(args.reps):
        for name, engine in engines.items():
            runs[name].append(_measure(engine, chunks, text, beams, clients, not args.no_ceiling))
    base = {"article": article, "chars": len(text), "beams": beams, "clients": clients}
    return [
        {"variant": name, **base, "chunk_tokens": [len(c) for c in chunks]}
        | _row(runs[name], clients)
        for name in engines
    ]


def _variants(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """Each variant's name and settings: `--variant NAME:A=1,B=2`, or one from `--env`."""
    common = dict(item.split("=", 1) for item in args.env)
    if not args.variant:
        return {",".join(args.env) or "defaults": common}
    variants = {}
    for spec in args.variant:
        name, _, items = spec.partition(":")
        pairs = [item.split("=", 1) for item in items.split(",") if item]
        variants[name] = common | dict(pairs)
    return variants


def backend_rows(
    spec: str, model_dir: Path, args: argparse.Namespace, rows: list[dict[str, Any]]
) -> None:
    """Time every cell on `spec`, appending to `rows` (and saving them) as each ends."""
    env = {
        "SUMMARIZE_MODEL": str(model_dir),
        "TRANSLATE_MODELS": "",
        "DEVICE": "cpu",
        "TORCH_THREADS": str(args.torch_threads),
        "CT2_CACHE_DIR": str(args.out / "ct2"),
        # Four long reports in beam search can take minutes on 2 busy cores: time them all.
        "ITEM_TIMEOUT_S": "1800",
        # Every rep must do the work: a cached summary answers in milliseconds.
        "CACHE": "false",
        **_backend_env(spec),
    }
    variants = _variants(args)
    engines: dict[str, Engine] = {}
    try:
        for name, settings in variants.items():
            engines[name] = Engine(Settings.from_env(env | settings)).start()
            summarize_texts(engines[name], [(SEEDS / _WARM_UP).read_text(encoding="utf-8")])
        for article in [a.strip() for a in args.articles.split(",") if a.strip()]:
            for beams in args.beams:
                for clients in args.clients:
                    for row in _cells(engines, article, beams, clients, args):
                        row = {"backend": spec, "settings": variants[row["variant"]], **row}
                        log(
                            f"{spec} [{row['variant']}] {article} beams={beams} K={clients}: "
                            f"{row['s_per_article']:.2f} s/article, ceiling "
                            f"{row['ceiling_s_per_article'] or 0:.2f}"
                        )
                        rows.append(row)
                    save(args.out / f"{args.name}.json", {"meta": {"partial": True}, "rows": rows})
    finally:
        for engine in engines.values():
            engine.close(timeout=30)


def summary_table(rows: list[dict[str, Any]]) -> str:
    headers = ["backend", "variant", "article", "beams", "K", "s/article", "ceiling s"]
    headers += ["vs ceiling", "CPU s", "CPU vs ceiling"]
    headers += ["chunks", "rounds", "batches", "in tokens", "gen tokens"]
    return table(
        headers,
        [
            [r["backend"], r["variant"], r["article"], r["beams"], r["clients"]]
            + [r["s_per_article"], r["ceiling_s_per_article"], r["vs_ceiling"]]
            + [r["cpu_s_per_article"], r["cpu_vs_ceiling"]]
            + [r["chunks"], r["rounds"]]
            + [r["batches"], int(r["input_tokens"]), int(r["generated_tokens"])]
            for r in rows
        ],
    )


def run(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    model_dir = prepare_summarizer(args.out / "models")
    rows: list[dict[str, Any]] = []
    for spec in [s.strip() for s in args.backends.split(",") if s.strip()]:
        backend_rows(spec, model_dir, args, rows)
    print("\nSummaries at distilbart's shape (random weights, decoding to the length limit):\n")
    print(summary_table(rows))
    meta = {
        "variants": _variants(args),
        "seconds": round(time.perf_counter() - began, 1),
        "partial": False,
    }
    save(args.out / f"{args.name}.json", {"meta": meta, "rows": rows})
    return 0

"""jobs: a lone interactive translation's latency idle, then while a large translation job runs.

In process, on one engine (the real-shape en-fr model, random weights, output pinned to
--new-tokens, CTranslate2 int8 by default; the tiny summariser beside it) and a SQLite store in
--out: the job's items run through the jobs' worker (`service.jobs.runner`) at background
priority, exactly as in a serving process; the interactive requests go through the translate
operation, as a `/v1/translate` view runs it, one at a time with --gap-ms between them.

Phases: `idle` (interactive requests alone), `job alone` (the job's items/s with nothing else
running, for --job-seconds), `with job` (the requests again while the job runs: how much a job
slows a request, and the job's items/s in the room requests leave), then `idle` again once the
job's worker stopped (idle is both idle phases, so a machine whose load drifts weighs on it as on
the rest). The job must outlast
both (--items). --batch-sizes runs it all once per JOBS_BATCH_SIZE. Prints a table; writes
jobs.json. The goal: p95 with the job within 1.5x of idle, and the job's items/s beside
requests a good part of its items/s alone.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench.report import log, save, table
from harness.load import latency_summary
from harness.models import PAIR, pin_generation, prepare_translator, tiny_models
from harness.workload import text
from service.core.config import Settings
from service.inference.engine import Engine
from service.jobs.runner import JobRunner
from service.jobs.sqlite_store import SqliteJobStore
from service.jobs.store import FINISHED, Item, JobSpec, JobStore
from service.tasks import TaskContext, TextLimits, TranslateRequest, translate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=int, default=2000, help="items in the job")
    parser.add_argument("--requests", type=int, default=60, help="interactive requests a phase")
    parser.add_argument("--gap-ms", type=float, default=50, help="pause between requests")
    parser.add_argument("--job-seconds", type=float, default=15, help="time of job alone")
    parser.add_argument(
        "--batch-sizes", default="4,32", help="JOBS_BATCH_SIZE values, comma-separated"
    )
    parser.add_argument("--new-tokens", type=int, default=16, help="pinned output length")
    parser.add_argument("--compute-type", default="int8", help="CTranslate2 compute type")
    parser.add_argument("--threads", default="0", help="TORCH_THREADS")
    parser.add_argument("--worker-items", type=int, default=32, help="JOBS_WORKER_ITEMS")
    parser.add_argument("--queue-share", type=float, default=0.5, help="JOBS_QUEUE_SHARE")


def _settings(args: argparse.Namespace, root: Path, batch_size: int) -> Settings:
    translator = prepare_translator(root / "models")
    pin_generation(translator, new_tokens=args.new_tokens)
    tiny = tiny_models(root / "models" / "tiny")
    return Settings.from_env(
        {
            "SUMMARIZE_MODEL": tiny["SUMMARIZE_MODEL"],
            "TRANSLATE_MODELS": f"{PAIR}={translator}",
            "BACKEND": "ctranslate2",
            "COMPUTE_TYPE": args.compute_type,
            "CT2_CACHE_DIR": str(root / "ct2-cache"),
            "TORCH_THREADS": args.threads,
            "CACHE": "false",
            "JOBS_WORKER_ITEMS": str(args.worker_items),
            "JOBS_QUEUE_SHARE": str(args.queue_share),
            "JOBS_BATCH_SIZE": str(batch_size),
            "DATA_DIR": str(root / "jobs-data"),
        }
    )


def _interactive(engine: Engine, args: argparse.Namespace, serial: int) -> list[float]:
    """--requests lone translations, one at a time; their latencies in seconds."""
    ctx = TaskContext(engine, TextLimits(64, 100_000))
    latencies = []
    for n in range(args.requests):
        request = TranslateRequest([text(14, offset=serial + 31 * n)], "fr")
        started = time.perf_counter()
        translate(ctx, request)
        latencies.append(time.perf_counter() - started)
        time.sleep(args.gap_ms / 1000)
    return latencies


def _written(store: JobStore, job_id: str) -> tuple[int, bool]:
    job = store.get(job_id)
    assert job is not None
    return job.done + job.failed, job.status in FINISHED


def _batches(engine: Engine) -> tuple[float, float, float]:
    """The en-fr model's batches so far: (count, items, seconds), from its metrics."""
    get = engine.metrics.registry.get_sample_value
    labels = {"model": PAIR}
    return (
        get("service_batch_seconds_count", labels) or 0.0,
        get("service_batch_size_sum", labels) or 0.0,
        get("service_batch_seconds_sum", labels) or 0.0,
    )


def _per_batch(before: tuple[float, float, float], after: tuple[float, float, float]) -> dict:
    """Mean size and milliseconds of the batches run between two `_batches` readings."""
    count, items, seconds = (b - a for a, b in zip(before, after, strict=True))
    return {
        "batches": count,
        "mean_size": items / count if count else None,
        "mean_ms": 1000 * seconds / count if count else None,
    }


def _row(name: str, latencies: list[float], items_s: float | None) -> list[Any]:
    summary = latency_summary(latencies)
    return [name, summary.get("p50"), summary.get("p95"), int(summary.get("n", 0)), items_s]


def _measure(args: argparse.Namespace, settings: Settings, db: Path) -> dict[str, Any]:
    """One run of the three phases on a fresh engine and store."""
    db.unlink(missing_ok=True)
    engine = Engine(settings).start()
    store = SqliteJobStore(db)
    runner = JobRunner(store, engine, settings, poll_s=0.05)
    try:
        _interactive(engine, argparse.Namespace(**{**vars(args), "requests": 5}), 10_000)
        log(f"idle: {args.requests} interactive translations")
        mark = _batches(engine)
        idle = _interactive(engine, args, 0)
        idle_batches = _per_batch(mark, _batches(engine))
        items = [Item(str(i), text(14, offset=50_000 + 7 * i)) for i in range(args.items)]
        job = store.create(JobSpec(task="translate", options={"target": "fr"}), items)
        runner.start()
        while _written(store, job.id)[0] == 0:
            time.sleep(0.01)
        log(f"job alone for {args.job_seconds} s")
        started, (before, _) = time.perf_counter(), _written(store, job.id)
        time.sleep(args.job_seconds)
        after, _ = _written(store, job.id)
        alone = (after - before) / (time.perf_counter() - started)
        log(f"with job: {args.requests} interactive translations")
        started, mark = time.perf_counter(), _batches(engine)
        busy = _interactive(engine, args, 1_000)
        busy_batches = _per_batch(mark, _batches(engine))
        busy_s, (written, finished) = time.perf_counter() - started, _written(store, job.id)
        if finished:
            log("the job ended during the last phase: its items/s there is too low; more --items")
        beside = (written - after) / busy_s
        runner.stop(timeout=60)
        log(f"idle again: {args.requests} interactive translations")
        idle += _interactive(engine, args, 2_000)
    finally:
        runner.stop(timeout=60)
        engine.close(timeout=60)
    return {
        "idle": latency_summary(idle),
        "with_job": latency_summary(busy),
        "job_items_per_s_alone": alone,
        "job_items_per_s_beside_requests": beside,
        "p95_ratio": latency_summary(busy)["p95"] / latency_summary(idle)["p95"],
        "p50_ratio": latency_summary(busy)["p50"] / latency_summary(idle)["p50"],
        "job_share_beside_requests": beside / alone if alone else None,
        "job_finished_early": finished,
        "batches_idle": idle_batches,
        "batches_with_job": busy_batches,
    }


def run(args: argparse.Namespace) -> int:
    root = args.out
    results: dict[str, Any] = {}
    rows: list[list[Any]] = []
    batch_rows: list[list[Any]] = []
    for size in [int(s) for s in args.batch_sizes.split(",")]:
        log(f"JOBS_BATCH_SIZE={size}")
        got = results[str(size)] = _measure(
            args, _settings(args, root, size), root / "jobs-data" / "jobs.db"
        )
        idle, busy = got["idle"], got["with_job"]
        rates = [got["job_items_per_s_alone"], got["job_items_per_s_beside_requests"]]
        rows.append(
            [size, idle["p50"], idle["p95"], busy["p50"], busy["p95"], got["p95_ratio"], *rates]
        )
        sizes = [got["batches_idle"]["mean_ms"], got["batches_with_job"]["mean_size"]]
        batch_rows.append([size, *sizes, got["batches_with_job"]["mean_ms"]])
    headers = ["JOBS_BATCH_SIZE", "idle p50 ms", "idle p95 ms", "with job p50 ms"]
    headers += ["with job p95 ms", "p95 ratio", "job items/s alone", "job items/s beside"]
    print(table(headers, rows))
    print(table(["JOBS_BATCH_SIZE", "idle batch ms", "with job size", "with job ms"], batch_rows))
    settings = {k: v for k, v in vars(args).items() if k != "out"} | {"out": str(root)}
    save(root / "jobs.json", {"settings": settings, "runs": results})
    return 0

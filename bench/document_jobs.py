"""document-jobs: what running a document as a background job costs over translating it in the
request.

In process, on the tiny demo models (their translations are meaningless; the shapes are real):
for a docx and a txt of --units paragraphs, `inline` is the document operation called directly
(what `POST /translate_file` does inside its request); `check` is what `POST /v1/documents`
does before it answers 202 (the file read without a model, `tasks.inspect_document`); `job` is
the upload stored and queued (`service.jobs.documents.submit`, a SQLite store in --out) and run
by the jobs' worker (`JobRunner`, polling every 50 ms) until its result file is stored: the
time a client waits, upload to result. Median of --repeat runs, milliseconds. Prints a table;
writes document_jobs.json.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path
from typing import Any

from bench.report import log, save, table
from harness import documents, office
from harness.models import tiny_models
from service import tasks
from service.core.config import Settings
from service.inference.engine import Engine
from service.jobs.documents import DOCUMENT, limits_for, submit
from service.jobs.runner import JobRunner
from service.jobs.sqlite_store import SqliteJobStore
from service.jobs.store import FINISHED, JobSpec
from service.text.language import LanguageDetector


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--units", type=int, default=200, help="paragraphs per document")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement")


def _documents(units: int) -> dict[str, tuple[str, bytes]]:
    import docx

    paragraphs = [f"{i}: {documents.SENTENCES[i % 3]}" for i in range(units)]
    built = docx.Document(io.BytesIO(office.build_docx()))
    for paragraph in paragraphs:
        built.add_paragraph(paragraph)
    out = io.BytesIO()
    built.save(out)
    return {
        "docx": ("report.docx", out.getvalue()),
        "txt": ("news.txt", ("\n\n".join(paragraphs) + "\n").encode()),
    }


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _job_ms(store: SqliteJobStore, runner: JobRunner, limits: Any, name: str, data: bytes) -> float:
    start = time.perf_counter()
    info = tasks.inspect_document(data, name, limits)
    spec = JobSpec(
        task=DOCUMENT,
        options={"task": "translate", "target": "fr", "source": "en", "filename": name},
    )
    job = submit(store, runner.files, spec, (name, data, info.media_type))
    while (found := store.get(job.id)) is not None and found.status not in FINISHED:
        time.sleep(0.005)
    elapsed = _ms(start)
    assert found is not None and found.done == 1, found
    result = store.results(job.id).outcomes[0].result
    assert runner.files.take(result["file"], None) is not None
    return elapsed


def run(args: argparse.Namespace) -> int:
    root = args.out / "document-jobs"
    env = tiny_models(root / "models") | {
        "DATA_DIR": str(root / "data"),
        "TORCH_THREADS": "1",
        "CACHE": "false",
    }
    settings = Settings.from_env(env)
    engine = Engine(settings).start()
    store = SqliteJobStore(Path(root / "jobs.db"))
    runner = JobRunner(
        store,
        engine,
        settings,
        detector=LanguageDetector(),
        poll_s=0.05,
    ).start()
    ctx = tasks.TaskContext(engine, tasks.TextLimits(64, 100_000), LanguageDetector())
    limits = limits_for(settings)
    rows, results = [], []
    try:
        for kind, (name, data) in _documents(args.units).items():
            log(f"{kind}: {len(data)} bytes")
            measured: dict[str, list[float]] = {"check": [], "inline": [], "job": []}
            for _ in range(args.repeat):
                start = time.perf_counter()
                tasks.inspect_document(data, name, limits)
                measured["check"].append(_ms(start))
                start = time.perf_counter()
                request = tasks.DocumentRequest(data, name, "fr", "en", limits=limits)
                tasks.translate_document(ctx, request)
                measured["inline"].append(_ms(start))
                measured["job"].append(_job_ms(store, runner, limits, name, data))
            medians: dict[str, Any] = {
                k: round(statistics.median(v), 1) for k, v in measured.items()
            }
            results.append({"format": kind, "bytes": len(data), **medians})
            rows.append([kind, len(data), medians["check"], medians["inline"], medians["job"]])
    finally:
        runner.stop(timeout=30)
        engine.close(timeout=30)
    print(table(["format", "bytes", "check ms (before 202)", "inline ms", "job ms"], rows))
    save(args.out / "document_jobs.json", {"units": args.units, "formats": results})
    return 0

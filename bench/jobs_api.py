"""jobs-api: what a big job costs the API itself: its upload answered 202, its results read back.

In process, through the real app and its SQLite store (a file under a temporary DATA_DIR), on
the tiny demo models (no model runs: this measures the API, not the models). Each rep uploads
`--items` items (JSON Lines, one short news sentence each) and times the answer (read, checked,
every item stored); then writes every item's outcome straight into the store, as workers would,
and times `GET /v1/jobs/<id>/results` reading them all back. Seconds on this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import log, save, table
from service.core.config import Settings
from service.http.app import create_app
from service.inference.engine import Engine
from service.jobs.store import Outcome
from service.ops.demo_models import build_demo_models

TEXT = "The council approved the new bridge on Tuesday after a long debate in the city hall."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=int, default=10_000, help="items per job")
    parser.add_argument("--reps", type=int, default=5, help="jobs submitted and read back")


def _rep(client: Any, store: Any, data: bytes, items: int) -> dict[str, float]:
    started = time.perf_counter()
    answer = client.post(
        "/v1/jobs?task=translate&target=fr", data=data, content_type="application/x-ndjson"
    )
    submit_s = time.perf_counter() - started
    assert answer.status_code == 202, answer.get_json()
    job_id = answer.get_json()["id"]
    while claims := store.claim("bench", 1000, 600):
        for claim in claims:
            store.finish(claim, Outcome(claim.item_id, result={"translation": claim.text}))
    started = time.perf_counter()
    body = client.get(f"/v1/jobs/{job_id}/results").data
    results_s = time.perf_counter() - started
    assert body.count(b"\n") == items
    return {"submit_s": submit_s, "results_s": results_s, "results_bytes": len(body)}


def run(args: argparse.Namespace) -> int:
    folder = Path(tempfile.mkdtemp(prefix="bench-jobs-api-"))
    models = build_demo_models(folder / "models", arch="tiny")
    settings = Settings.from_env(
        {
            "SUMMARIZE_MODEL": str(models["summarize"]),
            "TRANSLATE_MODELS": f"en-fr={models['en-fr']},en-ar={models['en-ar']}",
            "DATA_DIR": str(folder / "data"),
            "TORCH_THREADS": "1",
            "JOBS_MAX_ITEMS": str(args.items),
            "JOBS_MAX_IN_FLIGHT": str(args.reps),
        }
    )
    engine = Engine(settings).start()
    try:
        app = create_app(settings, engine=engine)
        lines = (json.dumps({"id": f"item-{i}", "text": TEXT}) for i in range(args.items))
        data = "\n".join(lines).encode()
        store = app.extensions["jobs"].store
        reps = [_rep(app.test_client(), store, data, args.items) for _ in range(args.reps)]
    finally:
        engine.close(timeout=10)
    summary = {
        "items": args.items,
        "upload_bytes": len(data),
        "results_bytes": reps[0]["results_bytes"],
        "submit_s_median": statistics.median(r["submit_s"] for r in reps),
        "results_s_median": statistics.median(r["results_s"] for r in reps),
    }
    log(
        table(
            ["items", "upload MB", "202 after s (median)", "results MB", "download s (median)"],
            [
                [
                    args.items,
                    round(len(data) / 1e6, 2),
                    round(summary["submit_s_median"], 3),
                    round(summary["results_bytes"] / 1e6, 2),
                    round(summary["results_s_median"], 3),
                ]
            ],
        )
    )
    save(args.out / "jobs_api.json", {"summary": summary, "reps": reps})
    return 0

"""The SQLite store across processes: what no single-process test can show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from service.jobs.sqlite_store import SqliteJobStore
from service.jobs.store import DONE, Item, JobSpec

ROOT = Path(__file__).resolve().parents[3]

# One worker process: claim a few items at a time (short leases, so some expire and are taken
# again by another), write each, and print which items it claimed and which writes counted.
WORKER = """
import json, sys
from service.jobs.sqlite_store import SqliteJobStore
from service.jobs.store import Outcome
store = SqliteJobStore(sys.argv[1])
claimed, written = [], []
while claims := store.claim(sys.argv[2], 3, 0.002):
    for claim in claims:
        claimed.append(claim.item_id)
        if store.finish(claim, Outcome(claim.item_id, result=sys.argv[2])):
            written.append(claim.item_id)
print(json.dumps({"claimed": claimed, "written": written}))
"""


def test_processes_claiming_at_once_write_every_item_once(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SqliteJobStore(path)
    n = 300
    job = store.create(JobSpec(task="translate"), [Item(str(i), "t") for i in range(n)])
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), f"w{k}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(4)
    ]
    reports = [json.loads(worker.communicate(timeout=120)[0]) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    written = [item for report in reports for item in report["written"]]
    assert sorted(written, key=int) == [str(i) for i in range(n)]  # each once, none lost
    finished = store.get(job.id)
    assert finished is not None and (finished.status, finished.done) == (DONE, n)
    outcomes = store.results(job.id, limit=n + 1).outcomes
    assert len(outcomes) == n
    writer = {item: f"w{k}" for k, report in enumerate(reports) for item in report["written"]}
    assert all(o.result == writer[o.item_id] for o in outcomes)  # the first writer's outcome
    store.close()


def test_waiting_items_are_claimed_before_expired_ones(tmp_path: Path) -> None:
    """SQLite's order (Redis takes stale entries over first; the contract leaves it open)."""
    store = SqliteJobStore(tmp_path / "jobs.db")
    store.create(
        JobSpec(task="translate", options={"target": "fr"}),
        [Item(f"i{k}", text="t") for k in range(3)],
    )
    (dead,) = store.claim("dead", 1, 0.0)
    assert [c.item_id for c in store.claim("alive", 2, 600.0)] == ["i1", "i2"]
    assert [c.item_id for c in store.claim("alive", 2, 600.0)] == [dead.item_id]
    store.close()

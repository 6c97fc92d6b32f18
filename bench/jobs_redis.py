"""jobs-redis: what the Redis job store costs per job and per item, against a real redis-server.

No model: the store alone, in-process, so these are the store's own limits (a model's item takes
tens to hundreds of milliseconds). Measured: creating a job of --items items of --text-bytes
each; draining a job through claim + finish per item, at claim sizes 1, 8 and 32, by one and by
two stores ("replicas", each a thread with its own connection); paging its results; one claim on
an empty queue (a worker's idle poll). Needs Debian's redis-server. Prints a table; writes
jobs-redis.json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from bench.report import log, save, table
from harness.redis import RedisServer
from service.jobs.redis_store import RedisJobStore
from service.jobs.store import Item, JobSpec, Outcome

SPEC = JobSpec(task="translate", options={"target": "fr"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=int, default=10_000, help="items of the created job")
    parser.add_argument("--drain", type=int, default=2_000, help="items per drain run")
    parser.add_argument("--text-bytes", type=int, default=1_000, help="bytes of each item")
    parser.add_argument("--repeats", type=int, default=3, help="runs per drain setting")
    parser.add_argument("--persistent", action="store_true", help="AOF, fsync always")


def _items(n: int, size: int) -> list[Item]:
    return [Item(f"i{k}", ("word " * (size // 5 + 1))[:size]) for k in range(n)]


def _create(store: RedisJobStore, args: argparse.Namespace) -> dict[str, Any]:
    items = _items(args.items, args.text_bytes)
    started = time.perf_counter()
    job = store.create(SPEC, items)
    seconds = time.perf_counter() - started
    store.cancel(job.id)
    return {"step": f"create a job of {args.items} items", "seconds": seconds}


def _drain(url: str, prefix: str, args: argparse.Namespace, batch: int, replicas: int) -> dict:
    stores = [RedisJobStore.from_url(url, prefix=prefix) for _ in range(replicas)]
    job = stores[0].create(SPEC, _items(args.drain, args.text_bytes))
    start = threading.Barrier(replicas + 1)

    def work(store: RedisJobStore, name: str) -> None:
        start.wait()
        while claims := store.claim(name, batch, 60.0):
            for claim in claims:
                store.finish(claim, Outcome(claim.item_id, result={"translation": claim.text}))

    threads = [threading.Thread(target=work, args=(s, f"r{n}")) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    finished = stores[0].get(job.id)
    assert finished is not None and finished.done == args.drain, "every item written once"
    read_began, cursor, lines = time.perf_counter(), "", 0
    while (page := stores[0].results(job.id, cursor)).outcomes:
        lines, cursor = lines + len(page.outcomes), page.cursor
    read_s = time.perf_counter() - read_began
    for store in stores:
        store.close()
    return {
        "step": f"drain: claim {batch}, finish each, {replicas} replica(s)",
        "seconds": seconds,
        "items_per_s": args.drain / seconds,
        "results_lines_per_s": lines / read_s if read_s else None,
    }


def _median_drain(url: str, args: argparse.Namespace, batch: int, replicas: int) -> dict:
    """The run with the median items/s of --repeats (each on keys of its own), and the range."""
    runs = [
        _drain(url, f"{{b{batch}r{replicas}n{n}}}", args, batch, replicas)
        for n in range(args.repeats)
    ]
    runs.sort(key=lambda r: r["items_per_s"])
    middle = runs[len(runs) // 2]
    return middle | {"items_per_s_range": [runs[0]["items_per_s"], runs[-1]["items_per_s"]]}


def _idle_poll(store: RedisJobStore) -> dict[str, Any]:
    times = []
    for _ in range(200):
        started = time.perf_counter()
        store.claim("idle", 8, 60.0)
        times.append(time.perf_counter() - started)
    return {"step": "claim on an empty queue", "seconds": statistics.median(times)}


def _range(values: list[float] | None) -> str | None:
    return None if values is None else f"{values[0]:.0f}-{values[1]:.0f}"


def run(args: argparse.Namespace) -> int:
    binary = shutil.which("redis-server")
    if binary is None:
        log("redis-server is not installed (apt-get install redis-server)")
        return 1
    workdir: Path = args.out / "jobs-redis"
    workdir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(binary, workdir, persistent=args.persistent)
    server.start()
    rows: list[dict[str, Any]] = []
    try:
        store = RedisJobStore.from_url(server.url, timeout_s=30.0)
        rows.append(_create(store, args))
        log(f"{rows[-1]['step']}: {rows[-1]['seconds']:.3f} s")
        for replicas in (1, 2):
            for batch in (1, 8, 32):
                rows.append(_median_drain(server.url, args, batch, replicas))
                log(f"{rows[-1]['step']}: {rows[-1]['items_per_s']:.0f} items/s")
        rows.append(_idle_poll(store))
        store.close()
    finally:
        server.stop()
    print(
        table(
            ["step", "ms", "items/s (median)", "items/s range", "results lines/s"],
            [
                [r["step"], r["seconds"] * 1000, r.get("items_per_s")]
                + [_range(r.get("items_per_s_range")), r.get("results_lines_per_s")]
                for r in rows
            ],
        )
    )
    save(
        args.out / "jobs-redis.json",
        {"settings": vars(args) | {"out": str(args.out)}, "rows": rows},
    )
    return 0

"""TORCH_THREADS on a small shared CPU host: the same server at 1 and at N intra-op threads.

    .venv/bin/python -m bench.threads --threads 1,2 --clients 16

Starts one gunicorn per thread count (batching on) and measures them interleaved: a lone client's
latency (requests alternating between the servers) and K closed-loop clients (servers taking
turns, twice). On a host whose cores other processes also use, an OpenMP team wider than the
cores this process actually gets waits at every parallel region for its descheduled member;
this shows how much that costs here. Writes bench/out/threads-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench import report, workload  # noqa: E402
from bench.measure import latency_summary  # noqa: E402
from bench.models import prepare_models  # noqa: E402
from bench.run import BENCH_DIR, http_load, lone_latency, merge_rounds, server_env  # noqa: E402
from bench.server import Server  # noqa: E402
from service.config import Settings  # noqa: E402


def _ints(raw: str) -> list[int]:
    return [int(v) for v in raw.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.threads", description=__doc__)
    parser.add_argument("--threads", type=_ints, default=[1, 2])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--lone-requests", type=int, default=12)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--words", type=int, default=10)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out")
    args = parser.parse_args(argv)
    models = prepare_models(
        args.out / "models", translate_tokens=args.new_tokens, summarize_tokens=16, num_beams=1
    )
    bodies = [
        json.dumps({"text": s, "source": "en", "target": "fr"}).encode()
        for s in workload.sentences(args.words)
    ]
    servers: dict[int, Server] = {}
    loadavg_start = list(os.getloadavg())
    try:
        for n in args.threads:
            env_args = argparse.Namespace(
                device="cpu",
                dtype="float32",
                torch_threads=n,
                max_wait_ms=Settings.defaults().max_wait_ms,
            )
            servers[n] = Server(
                f"torch-threads-{n}",
                server_env(env_args, models, max_batch_size=max(32, args.clients)),
                threads=args.clients + 4,
                log_dir=args.out / "logs",
            )
        for server in servers.values():
            server.wait_ready()
            http_load(server, bodies, 4, warmup=0.2, window=1.0, new_tokens=args.new_tokens)
        lone = lone_latency(list(servers.values()), bodies[0], args.lone_requests)
        per: dict[int, list] = {n: [] for n in servers}
        for round_no in range(args.rounds):
            order = list(servers) if round_no % 2 == 0 else list(reversed(servers))
            for n in order:
                result = http_load(
                    servers[n],
                    bodies,
                    args.clients,
                    warmup=1.0,
                    window=args.window,
                    new_tokens=args.new_tokens,
                )
                per[n].append(result)
                print(
                    f"TORCH_THREADS={n} K={args.clients}: {result.items_per_s:.2f} items/s, "
                    f"batch {result.mean_batch}, load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    finally:
        for server in servers.values():
            server.stop()
    rows, results = [], {}
    for n, server in servers.items():
        merged = merge_rounds(per[n], args.new_tokens)
        lone_ms = latency_summary(lone[server.name])
        results[n] = {"lone_latency_ms": lone_ms, "load": merged}
        rows.append(
            [
                n,
                lone_ms["p50"],
                lone_ms["p95"],
                merged["items_per_s"],
                merged["latency_ms"]["p50"],
                merged["mean_batch"],
            ]
        )
    print(
        report.table(
            [
                "TORCH_THREADS",
                "lone p50 ms",
                "lone p95 ms",
                f"K={args.clients} items/s",
                f"K={args.clients} p50 ms",
                "mean batch",
            ],
            rows,
        )
    )
    out = args.out / "threads-cpu.json"
    out.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "cpus_usable": len(os.sched_getaffinity(0)),
                "loadavg_start": loadavg_start,
                "loadavg_end": list(os.getloadavg()),
                "clients": args.clients,
                "results": results,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

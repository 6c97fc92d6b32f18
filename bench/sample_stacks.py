"""Sample where the service's time goes under load, with py-spy (`pip install py-spy`).

    .venv/bin/python -m bench.profile --target http --clients 16 --seconds 20
    .venv/bin/python -m bench.profile --target engine --clients 16 --seconds 20 --gil

`http` starts gunicorn with batching on and samples its worker process while K keep-alive
clients post sentences; `engine` samples this process while K threads call Engine.submit. The
collapsed stacks go to bench/out/profile-<target>-K<k>[-gil].txt (load them into speedscope or
flamegraph.pl); the summary printed groups samples by thread role (the batch worker, request
threads, the rest) and lists the functions that take the most of each role's samples.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from transformers.utils import logging as transformers_logging  # noqa: E402

from bench import workload  # noqa: E402
from bench.models import prepare_models  # noqa: E402
from bench.run import BENCH_DIR, PAIR, engine_load, http_load, server_env  # noqa: E402
from bench.server import Server  # noqa: E402
from service.config import Settings  # noqa: E402
from service.inference.engine import Engine  # noqa: E402
from service.inference.seq2seq import GenerationParams  # noqa: E402

_FRAME_RE = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def find_py_spy(explicit: str | None) -> str:
    for candidate in (
        explicit,
        shutil.which("py-spy"),
        str(Path(sys.executable).with_name("py-spy")),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit("py-spy not found: `pip install py-spy` or pass --py-spy PATH")


def role(thread: str, frames: list[str]) -> str:
    """Which part of the service a sampled stack belongs to."""
    text = ";".join(frames)
    if (
        "batcher-" in thread
        or "Batcher._main" in text
        or "_serve (service/inference/batching.py" in text
    ):
        return "batch worker"
    if "handle_request" in text or "service/http/v1.py" in text or "client-" in thread:
        return "request/client threads"
    return "other"


def summarise(path: Path, top: int) -> str:
    """Sample shares by role, then the top functions (inclusive) of each role."""
    by_role: Counter[str] = Counter()
    functions: dict[str, Counter[str]] = defaultdict(Counter)
    leaves: dict[str, Counter[str]] = defaultdict(Counter)
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        parts = stack.split(";")
        thread, frames = parts[0], parts[1:]
        name = role(thread, frames)
        by_role[name] += count
        total += count
        seen = set()
        for frame in frames:
            match = _FRAME_RE.match(frame)
            label = f"{match['func']} ({match['file']})" if match else frame
            if label not in seen:
                functions[name][label] += count
                seen.add(label)
        if frames:
            match = _FRAME_RE.match(frames[-1])
            leaves[name][f"{match['func']} ({match['file']})" if match else frames[-1]] += count
    lines = [f"{total} samples"]
    for name, count in by_role.most_common():
        lines.append(f"\n== {name}: {count} samples ({100 * count / total:.1f}%)")
        lines.append("  inclusive:")
        for label, n in functions[name].most_common(top):
            lines.append(f"    {100 * n / count:5.1f}%  {label}")
        lines.append("  own (leaf):")
        for label, n in leaves[name].most_common(top // 2):
            lines.append(f"    {100 * n / count:5.1f}%  {label}")
    return "\n".join(lines)


def record(py_spy: str, pid: int, seconds: float, out: Path, gil: bool) -> subprocess.Popen:
    command = [
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--format",
        "raw",
        "--threads",
        "--nonblocking",
        "--output",
        str(out),
    ]
    if gil:
        command.append("--gil")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sample_stacks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--target", choices=("http", "engine"), default="http")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--gil", action="store_true", help="only samples holding the GIL")
    parser.add_argument("--torch-threads", type=int, default=0)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--words", type=int, default=10)
    parser.add_argument("--top", type=int, default=16)
    parser.add_argument("--py-spy", help="path to the py-spy binary")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out")
    args = parser.parse_args(argv)
    py_spy = find_py_spy(args.py_spy)
    transformers_logging.set_verbosity_error()
    models = prepare_models(
        args.out / "models", translate_tokens=args.new_tokens, summarize_tokens=16, num_beams=1
    )
    sentences = workload.sentences(args.words)
    out = args.out / f"profile-{args.target}-K{args.clients}{'-gil' if args.gil else ''}.txt"
    params = GenerationParams(
        num_beams=1, min_new_tokens=args.new_tokens, max_new_tokens=args.new_tokens
    )
    if args.target == "http":
        env_args = argparse.Namespace(
            device="cpu",
            dtype="float32",
            torch_threads=args.torch_threads,
            max_wait_ms=Settings.defaults().max_wait_ms,
        )
        server = Server(
            "profile",
            server_env(env_args, models, max_batch_size=args.max_batch_size),
            threads=args.clients + 4,
            log_dir=args.out / "logs",
        )
        try:
            server.wait_ready()
            pid = server.worker_pid()
            assert pid is not None
            import json

            bodies = [json.dumps({"text": s, "target": "fr"}).encode() for s in sentences]
            http_load(
                server, bodies, args.clients, warmup=0.5, window=2, new_tokens=args.new_tokens
            )
            spy = record(py_spy, pid, args.seconds, out, args.gil)
            result = http_load(
                server,
                bodies,
                args.clients,
                warmup=0.5,
                window=args.seconds,
                new_tokens=args.new_tokens,
            )
            spy.wait()
        finally:
            server.stop()
    else:
        settings = Settings.defaults(
            summarize_model=str(models.summarize),
            translate_models=((PAIR, str(models.translate)),),
            translate_prefixes=(),
            device="cpu",
            torch_threads=args.torch_threads,
            max_batch_size=args.max_batch_size,
            max_queue=4096,
            item_timeout_s=600,
        )
        engine = Engine(settings).start()
        try:
            model = engine.model(PAIR)
            pool = model.encode(sentences)
            engine_load(
                engine,
                PAIR,
                pool,
                params,
                args.clients,
                warmup=0.5,
                window=2,
                new_tokens=args.new_tokens,
            )
            spy = record(py_spy, os.getpid(), args.seconds, out, args.gil)
            result = engine_load(
                engine,
                PAIR,
                pool,
                params,
                args.clients,
                warmup=0.5,
                window=args.seconds,
                new_tokens=args.new_tokens,
            )
            spy.wait()
        finally:
            engine.close(timeout=60)
    print(
        f"K={args.clients}: {result.items_per_s:.2f} items/s, p50 "
        f"{result.latency_ms.get('p50', 0):.0f} ms, mean batch {result.mean_batch}, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    if spy.returncode != 0:
        print(spy.stderr.read().decode() if spy.stderr else "", file=sys.stderr)
        return 1
    print(f"collapsed stacks: {out}")
    print(summarise(out, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the commands print and write: progress lines, Markdown tables, JSON, throughput's plot.

Each JSON file carries a `meta` block (date, command, commit, CPU, library versions, load
average), so a number can always be traced to the run that made it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
OUT = BENCH_DIR / "out"


def log(message: str) -> None:
    """A progress line with the time and the machine's 1-minute load average."""
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f}] {message}", flush=True)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (also readable as plain text): numbers right-aligned, floats with two
    decimals, None as "-"."""
    cells = [[(_cell(v), isinstance(v, int | float) or v is None) for v in row] for row in rows]
    widths = [max(len(h), *(len(row[i][0]) for row in cells)) for i, h in enumerate(headers)]

    def line(row: list[tuple[str, bool]]) -> str:
        aligned = (
            t.rjust(w) if right else t.ljust(w) for (t, right), w in zip(row, widths, strict=True)
        )
        return "| " + " | ".join(aligned) + " |"

    head = [(h, False) for h in headers]
    return "\n".join(line(row) for row in [head, [("-" * w, False) for w in widths], *cells])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _run(command: list[str]) -> str | None:
    try:
        return subprocess.run(
            command, capture_output=True, text=True, check=True, cwd=BENCH_DIR
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def cpu_model() -> str:
    for line in (_run(["lscpu"]) or "").splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def save(path: Path, results: dict[str, Any]) -> dict[str, Any]:
    """Write `results` as JSON with the run's facts added under `meta`; returns what it wrote."""
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]),
        "git_commit": (_run(["git", "rev-parse", "--short", "HEAD"]) or "").strip() or None,
        "cpu_model": cpu_model(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "torch": version("torch"),
        "transformers": version("transformers"),
        "ctranslate2": version("ctranslate2"),
        "loadavg_end": list(os.getloadavg()),
    }
    results = {**results, "meta": meta | results.get("meta", {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    log(f"wrote {path}")
    return results


# ----- the throughput results ------------------------------------------------------------------


def ceiling_table(curve: list[dict[str, Any]]) -> str:
    columns = ["batch_size", "runs", "median_s", "min_s", "max_s", "items_per_s", "tokens_per_s"]
    headers = ["batch", "runs", "median s/call", "min s", "max s", "items/s", "tokens/s"]
    return table(headers, [[p[c] for c in columns] for p in curve])


def _verdict(value: float | None, target: float, *, at_least: bool) -> str:
    if value is None:
        return "n/a"
    met = value >= target if at_least else value <= target
    return f"{value:.2f} ({'meets' if met else 'MISSES'} {'>=' if at_least else '<='} {target})"


def _ratio_lines(r: dict[str, Any]) -> list[str]:
    lines = [
        f"{name} K={k}: {_verdict(value, r['target_vs_ceiling'], at_least=True)}"
        for name, values in r.items()
        if name.endswith("_vs_ceiling") and not name.startswith("target")
        for k, value in values.items()
    ]
    lines += [
        f"batching_on_vs_off K={k}: " + ("n/a" if value is None else f"{value:.2f}x")
        for k, value in r.get("batching_on_vs_off", {}).items()
    ]
    if "lone_p50_on_vs_off" in r:
        verdict = _verdict(r["lone_p50_on_vs_off"], r["target_lone_p50_on_vs_off"], at_least=False)
        lines.append(f"lone_p50_on_vs_off: {verdict}")
    return lines


def load_table(points: list[dict[str, Any]], stage: str) -> str:
    headers = "stage K items err items/s tokens/s p50_ms p95_ms p99_ms mean_batch".split()
    headers += ["ceiling items/s", "vs ceiling", "vs ceiling@K", "load1"]
    rows = [
        [stage, p["clients"], p["items"], p["errors"], p["items_per_s"], p["tokens_per_s"]]
        + [p["latency_ms"].get(q) for q in ("p50", "p95", "p99")]
        + [p["mean_batch"], p["ceiling_items_per_s"], p["vs_ceiling"], p["vs_ceiling_at_k"]]
        + [p["loadavg"]]
        for p in points
    ]
    return table([h.replace("_", " ") for h in headers], rows)


def throughput_tables(results: dict[str, Any]) -> str:
    tr, sm = results["translate"], results.get("summarize")
    parts = [
        f"## Translation ceiling (model.generate, {results['meta']['new_tokens']} new tokens)",
        ceiling_table(tr["ceiling"]),
        "## Translation under load",
        *(
            load_table(tr[s], s.replace("_", " "))
            for s in ("engine", "http_on", "http_off")
            if s in tr
        ),
    ]
    if "lone_latency_ms" in tr:
        on, off = tr["lone_latency_ms"]["on"]["p50"], tr["lone_latency_ms"]["off"]["p50"]
        parts.append(f"Lone request p50: batching on {on:.1f} ms, off {off:.1f} ms")
    if sm:
        title = f"## Summarisation ({sm['article_tokens']}-token article"
        title += f", {sm['new_tokens']} new tokens)"
        parts += [title, ceiling_table(sm["ceiling"]), load_table(sm["engine"], "engine")]
    parts += ["## Ratios vs targets", "\n".join(_ratio_lines(results["ratios"]))]
    return "\n\n".join(parts)


def throughput_plot(results: dict[str, Any], path: Path) -> None:
    """The throughput results in two panels.

    Left: items/s vs batch size (the ceiling curve; engine and HTTP at their mean batch).
    Right: p50 (solid) and p95 (dashed) latency vs K."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr, meta = results["translate"], results["meta"]
    target_share = results["ratios"]["target_vs_ceiling"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=90)
    sizes = [p["batch_size"] for p in tr["ceiling"]]
    ceiling = [p["items_per_s"] for p in tr["ceiling"]]
    left.plot(sizes, ceiling, "k-o", label="ceiling: model.generate")
    target = [target_share * c for c in ceiling]
    left.plot(sizes, target, "k:", label=f"{target_share}x ceiling (target)")
    series = (
        ("engine", "tab:blue", "s"),
        ("http_on", "tab:green", "^"),
        ("http_off", "tab:red", "v"),
    )
    for name, color, marker in (s for s in series if s[0] in tr):
        points = tr[name]
        xs, ys = [p["mean_batch"] or 1 for p in points], [p["items_per_s"] for p in points]
        left.scatter(xs, ys, color=color, marker=marker, label=name, zorder=3)
        for p, x, y in zip(points, xs, ys, strict=True):
            label = f"K={p['clients']}"
            left.annotate(
                label, (x, y), fontsize=7, color=color, xytext=(3, 3), textcoords="offset points"
            )
        ks = [p["clients"] for p in points]
        for quantile, style in (("p50", "-"), ("p95", "--")):
            latency = [p["latency_ms"].get(quantile) for p in points]
            right.plot(ks, latency, style, color=color, marker=marker, label=f"{name} {quantile}")
    left.set_xscale("log", base=2)
    left.set(xlabel="batch size (engine/HTTP: mean batch from service metrics)")
    left.set(ylabel="sentences / s", title="Translation throughput (Marian en-fr shape)")
    right.set_xscale("log", base=2)
    right.set(yscale="log", xlabel="concurrent clients K")
    right.set(ylabel="latency per sentence, ms", title="Latency vs concurrency")
    for axes in (left, right):
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize=7)
    fig.suptitle(
        f"{meta['device_name']}, {meta['dtype']}, torch threads {meta['torch_threads']}, "
        f"{meta['new_tokens']} new tokens pinned, {meta['date']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

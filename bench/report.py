"""Turn measurements into the ceiling curve, ratios against targets, text tables and a plot."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

# Targets from the issue; benchmarks to compare against, not tests.
TARGET_VS_CEILING = 0.8
TARGET_LONE_LATENCY = 1.2
TARGET_ON_OFF_GPU_64 = 100.0


def ceiling_curve(timings: dict[int, list[float]], new_tokens: int) -> list[dict[str, float]]:
    """Median seconds per call at each batch size -> items/s and tokens/s, sorted by size."""
    curve = []
    for size in sorted(timings):
        seconds = statistics.median(timings[size])
        curve.append(
            {
                "batch_size": size,
                "runs": len(timings[size]),
                "median_s": seconds,
                "min_s": min(timings[size]),
                "max_s": max(timings[size]),
                "items_per_s": size / seconds,
                "tokens_per_s": size * new_tokens / seconds,
                "runs_s": list(timings[size]),
            }
        )
    return curve


def interpolate(curve: list[dict[str, float]], batch: float) -> float | None:
    """Ceiling items/s at a fractional batch size: linear in log2(batch) between points.

    None outside the measured range (no extrapolation).
    """
    points = [(p["batch_size"], p["items_per_s"]) for p in curve]
    if not points or batch < points[0][0] - 1e-9 or batch > points[-1][0] + 1e-9:
        return None
    for (b0, y0), (b1, y1) in zip(points, points[1:], strict=False):
        if b0 <= batch <= b1:
            if b1 == b0:
                return y0
            t = (math.log2(batch) - math.log2(b0)) / (math.log2(b1) - math.log2(b0))
            return y0 + t * (y1 - y0)
    return points[-1][1] if abs(batch - points[-1][0]) < 1e-9 else points[0][1]


def with_ceiling_ratio(point: dict[str, Any], curve: list[dict[str, float]]) -> dict[str, Any]:
    """Add the ceiling at the point's mean batch size and the point's share of it.

    Also the ceiling at batch size K (every client's item in one batch): the gap between the two
    is what batches cut smaller than K cost.
    """
    batch = point.get("mean_batch")
    ceiling = interpolate(curve, batch) if batch else None
    point["ceiling_items_per_s"] = ceiling
    point["vs_ceiling"] = point["items_per_s"] / ceiling if ceiling else None
    at_k = interpolate(curve, point["clients"])
    point["ceiling_at_k_items_per_s"] = at_k
    point["vs_ceiling_at_k"] = point["items_per_s"] / at_k if at_k else None
    return point


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (also readable as plain text)."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "| " + " | ".join("-" * w for w in widths) + " |",
    ]
    lines += [
        "| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    return "\n".join(lines)


def ceiling_table(curve: list[dict[str, float]]) -> str:
    return table(
        ["batch", "runs", "median s/call", "min s", "max s", "items/s", "tokens/s"],
        [
            [
                p["batch_size"],
                p["runs"],
                p["median_s"],
                p["min_s"],
                p["max_s"],
                p["items_per_s"],
                p["tokens_per_s"],
            ]
            for p in curve
        ],
    )


def load_table(points: list[dict[str, Any]], label: str) -> str:
    rows = []
    for p in points:
        lat = p["latency_ms"]
        rows.append(
            [
                label,
                p["clients"],
                p["items"],
                p["errors"],
                p["items_per_s"],
                p["tokens_per_s"],
                lat.get("p50"),
                lat.get("p95"),
                lat.get("p99"),
                p["mean_batch"],
                p.get("ceiling_items_per_s"),
                p.get("vs_ceiling"),
                p.get("vs_ceiling_at_k"),
                p["loadavg"][0],
            ]
        )
    return table(
        [
            "stage",
            "K",
            "items",
            "err",
            "items/s",
            "tokens/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "mean batch",
            "ceiling items/s",
            "vs ceiling",
            "vs ceiling@K",
            "load1",
        ],
        rows,
    )


def plot(results: dict[str, Any], path: Path) -> None:
    """Two panels: throughput vs batch size (ceiling curve, engine/HTTP points), latency vs K."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr = results["translate"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=90)
    curve = tr["ceiling"]
    left.plot(
        [p["batch_size"] for p in curve],
        [p["items_per_s"] for p in curve],
        "k-o",
        label="ceiling: model.generate",
    )
    left.plot(
        [p["batch_size"] for p in curve],
        [TARGET_VS_CEILING * p["items_per_s"] for p in curve],
        "k:",
        label=f"{TARGET_VS_CEILING}x ceiling (target)",
    )
    series = [
        ("engine", tr["engine"], "tab:blue", "s"),
        ("HTTP batching on", tr["http_on"], "tab:green", "^"),
        ("HTTP batching off", tr["http_off"], "tab:red", "v"),
    ]
    for name, points, color, marker in series:
        xs = [p["mean_batch"] or 1 for p in points]
        ys = [p["items_per_s"] for p in points]
        left.scatter(xs, ys, color=color, marker=marker, label=name, zorder=3)
        for p, x, y in zip(points, xs, ys, strict=True):
            left.annotate(
                f"K={p['clients']}",
                (x, y),
                fontsize=7,
                color=color,
                xytext=(3, 3),
                textcoords="offset points",
            )
    left.set_xscale("log", base=2)
    left.set_xlabel("batch size (engine/HTTP: mean batch from service metrics)")
    left.set_ylabel("sentences / s")
    left.set_title("Translation throughput (Marian en-fr shape)")
    left.grid(alpha=0.3)
    left.legend(fontsize=7)

    for name, points, color, marker in series:
        ks = [p["clients"] for p in points]
        right.plot(
            ks,
            [p["latency_ms"].get("p50") for p in points],
            color=color,
            marker=marker,
            label=f"{name} p50",
        )
        right.plot(
            ks,
            [p["latency_ms"].get("p95") for p in points],
            color=color,
            marker=marker,
            linestyle="--",
            alpha=0.6,
            label=f"{name} p95",
        )
    right.set_xscale("log", base=2)
    right.set_yscale("log")
    right.set_xlabel("concurrent clients K")
    right.set_ylabel("latency per sentence, ms")
    right.set_title("Latency vs concurrency")
    right.grid(alpha=0.3, which="both")
    right.legend(fontsize=7)
    meta = results["meta"]
    fig.suptitle(
        f"{meta['device_name']}, {meta['dtype']}, torch threads {meta['torch_threads']}, "
        f"{meta['new_tokens']} new tokens pinned, {meta['date']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

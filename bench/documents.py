"""documents: reading and writing each format (no model), and refusing hostile files.

Each format gets a real document of a few hundred units (paragraphs, list items, cues,
chapters) built by the library users' tools use; detecting and reading its segments, and
writing it back with each segment as its own "translation", are timed (milliseconds, median
of `--repeat`). The model's time is what `throughput` measures; this is what a document adds
around it. Then the hostile files of `harness/documents.py` (a 30 MB zip bomb, XML entities,
3,000 members, macros...): the time to the refusal, which must come before any extraction.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.report import log, save, table
from harness import documents
from service.documents.formats import (
    BadDocument,
    DocumentLimits,
    DocumentTooLarge,
    UnsupportedDocument,
)
from service.documents.registry import detect

LIMITS = DocumentLimits()
SENTENCE = documents.SENTENCES[0]


def samples(units: int) -> dict[str, tuple[str, bytes]]:
    """A document per format with `units` paragraphs, items or cues (EPUB: units/20 chapters)."""
    cues = "\n".join(
        f"{i + 1}\n00:{i // 60:02d}:{i % 60:02d},000 --> 00:{i // 60:02d}:{i % 60:02d},900\n"
        f"{SENTENCE}\n"
        for i in range(units)
    )
    return {
        "txt": ("a.txt", "\n\n".join([SENTENCE] * units).encode()),
        "md": (
            "a.md",
            "\n".join(f"- The **council** [met](x) {i}." for i in range(units)).encode(),
        ),
        "html": (
            "a.html",
            ("<html><body>" + f"<p>{SENTENCE}</p>" * units + "</body></html>").encode(),
        ),
        "srt": ("a.srt", cues.encode()),
        "epub": ("a.epub", documents.book(max(1, units // 20))),
    }


def _median_ms(repeat: int, action: Callable[..., Any], *args: Any) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action(*args)
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--units", type=int, default=400, help="paragraphs/items/cues per file")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement")


def _read(data: bytes, name: str) -> None:
    detect(data, name, LIMITS).read(data, LIMITS)


def _refusal(data: bytes, name: str) -> str:
    try:
        fmt = detect(data, name, LIMITS)
        fmt.read(data, LIMITS)
    except (BadDocument, DocumentTooLarge, UnsupportedDocument) as exc:
        return type(exc).__name__
    return "accepted"


def run(args: argparse.Namespace) -> int:
    formats, rows = [], []
    for kind, (name, data) in samples(args.units).items():
        fmt = detect(data, name, LIMITS)
        segments = fmt.read(data, LIMITS)
        texts = [s.text for s in segments]
        read_ms = _median_ms(args.repeat, _read, data, name)
        write_ms = _median_ms(args.repeat, fmt.write, data, texts, "ar")
        formats.append(
            {
                "format": kind,
                "bytes": len(data),
                "segments": len(segments),
                "read_ms": read_ms,
                "write_ms": write_ms,
            }
        )
        rows.append([kind, len(data), len(segments), read_ms, write_ms])
        log(f"{kind}: {len(segments)} segments")
    hostile, hostile_rows = [], []
    for what, (name, data, status) in documents.hostile().items():
        ms = _median_ms(args.repeat, _refusal, data, name)
        outcome = _refusal(data, name)
        hostile.append({"file": what, "bytes": len(data), "outcome": outcome, "ms": ms})
        hostile_rows.append([what, len(data), outcome, status, ms])
    print(table(["format", "bytes", "segments", "read ms", "write ms"], rows))
    print()
    print(table(["hostile file", "bytes", "refused as", "HTTP", "ms"], hostile_rows))
    save(args.out / "documents.json", {"units": args.units, "formats": formats, "hostile": hostile})
    return 0

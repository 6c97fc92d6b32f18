"""office: seconds to read and write back Office documents, per format and size.

Each document is built with its library (python-docx, python-pptx, openpyxl): paragraphs with a
bold run (one markup segment each), slides with a title and a text frame, text cells. `read`
finds the segments; `write` (which reads again, then maps every segment back) takes the
stand-in translation of `harness.office.shout`, so the time is the format's alone, no model.
Best of --repeat runs, on this machine's CPUs.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from typing import Any

from bench.report import log, save, table
from harness.office import shout
from service.documents.docx import DocxFormat
from service.documents.formats import DocumentLimits
from service.documents.pptx import PptxFormat
from service.documents.xlsx import XlsxFormat


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=3, help="runs per document (best kept)")
    parser.add_argument("--size", type=int, default=2000, help="paragraphs, and cells / 5")


def _docx(size: int) -> bytes:
    import docx

    document = docx.Document()
    for i in range(size):
        paragraph = document.add_paragraph(f"Paragraph {i} says the ")
        paragraph.add_run("minister").bold = True
        paragraph.add_run(" spoke on Monday about the budget.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _pptx(size: int) -> bytes:
    import pptx

    presentation = pptx.Presentation()
    for i in range(size // 20):
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = f"Slide {i}"
        slide.placeholders[1].text_frame.text = "Budget talks resume on Monday"
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def _xlsx(size: int) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in range(1, size + 1):
        for column in range(1, 6):
            sheet.cell(row, column, f"cell {row} {column} text")
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _best(action: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def run(args: argparse.Namespace) -> int:
    limits = DocumentLimits()
    cases = [
        ("docx", "formatted paragraphs", DocxFormat(), _docx(args.size)),
        ("pptx", "slides of 2 paragraphs", PptxFormat(), _pptx(args.size)),
        ("xlsx", "text cells", XlsxFormat(), _xlsx(args.size)),
    ]
    rows, results = [], []
    for name, what, fmt, data in cases:
        segments = fmt.read(data, limits)
        translations = [shout(s) for s in segments]
        read = _best(lambda fmt=fmt, data=data: fmt.read(data, limits), args.repeat)
        write = _best(
            lambda fmt=fmt, data=data, t=translations: fmt.write(data, t, "ar"), args.repeat
        )
        results.append(
            {
                "format": name,
                "what": what,
                "bytes": len(data),
                "segments": len(segments),
                "read_s": round(read, 3),
                "write_s": round(write, 3),
            }
        )
        rows.append([name, what, len(data) // 1024, len(segments), read, write])
    log("\n" + table(["format", "document", "KiB", "segments", "read s", "write s"], rows))
    save(args.out / "office.json", {"documents": results})
    return 0

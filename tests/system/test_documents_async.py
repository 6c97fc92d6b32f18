"""Documents as background jobs through real gunicorn, with API keys on: every format built by
its own library and sent to `/v1/documents` to Arabic, reopened with the same structure and
marked right to left where the format can say so; the Office formats through LibreTranslate's
`/translate_file`; the official `deepl` client's `translate_document` for a docx and a txt; the
hostile files refused by `/v1/documents` and `/v2/document` with a 4xx, never a 5xx, leaving
nothing in DATA_DIR/documents; and a worker killed (`kill -9`) while it translates a document,
after which the document still completes. The tiny models' translations are meaningless."""

from __future__ import annotations

import io
import os
import signal
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import deepl
import docx
import ebooklib
import openpyxl
import pptx
import pysubs2
import pytest
import requests
from bs4 import BeautifulSoup
from docx.oxml.ns import qn
from ebooklib import epub
from lxml import etree
from markdown_it import MarkdownIt

from harness import documents, office
from harness.server import Server, worker_pid
from service.documents.odf import q

KEY, OTHER_KEY = "documents-key-000000001", "documents-key-000000002"
DATA = Path(tempfile.mkdtemp(prefix="documents-async-"))
DOC_MAX_BYTES = 3_000_000
SERVER_ENV = {
    "API_KEYS": f"{KEY},{OTHER_KEY}",
    "DATA_DIR": str(DATA),
    "DOC_MAX_BYTES": str(DOC_MAX_BYTES),
}
AUTH = {"X-API-Key": KEY}
ODF_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}table"


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def submit(server: Server, name: str, data: bytes, headers=AUTH, **fields: str):
    return requests.post(
        f"{server.url}/v1/documents",
        files={"file": (name, data)},
        data=fields,
        headers=headers,
        timeout=60,
    )


def wait(server: Server, location: str, timeout: float = 240) -> dict:
    until = time.monotonic() + timeout
    while True:
        status = requests.get(f"{server.url}{location}", headers=AUTH, timeout=30).json()
        if status["status"] in ("done", "failed", "cancelled"):
            return status
        assert time.monotonic() < until, status
        time.sleep(0.2)


def translated(server: Server, name: str, data: bytes, target: str = "ar") -> tuple[str, bytes]:
    """Send to /v1/documents, wait, download: (the download's file name, its bytes)."""
    answer = submit(server, name, data, target=target, source="en")
    assert answer.status_code == 202, answer.text
    status = wait(server, answer.headers["Location"])
    assert status["status"] == "done", status
    download = requests.get(
        f"{server.url}{answer.headers['Location']}/result", headers=AUTH, timeout=30
    )
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith(status["result"]["media_type"].split(";")[0])
    return download.headers["Content-Disposition"].split("filename=", 1)[1], download.content


# ----- each format's structure and direction, read back by its own library ------------------


def _text(data: bytes) -> tuple[Any, bool | None]:
    return len(data.decode().strip().split("\n\n")), None


def _markdown(data: bytes) -> tuple[Any, bool | None]:
    return [t.type for t in MarkdownIt("commonmark").parse(data.decode())], None


def _html(data: bytes) -> tuple[Any, bool | None]:
    soup = BeautifulSoup(data.decode(), "html.parser")
    return (len(soup.find_all("p")), len(soup.find_all("b"))), soup.html.get("dir") == "rtl"


def _subtitles(fmt: str) -> Callable[[bytes], tuple[Any, bool | None]]:
    def read(data: bytes) -> tuple[Any, bool | None]:
        subs = pysubs2.SSAFile.from_string(data.decode(), format_=fmt)
        return [(e.start, e.end) for e in subs], None

    return read


def _epub(data: bytes) -> tuple[Any, bool | None]:
    book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    chapters = [
        BeautifulSoup(d.content.decode(), "html.parser")
        for d in book.get_items_of_type(ebooklib.ITEM_DOCUMENT)
        if d.file_name.startswith("ch")
    ]
    shape = [len(c.find_all("p")) for c in chapters]
    return shape, all(c.html.get("dir") == "rtl" for c in chapters)


def _docx(data: bytes) -> tuple[Any, bool | None]:
    document = docx.Document(io.BytesIO(data))
    texts = [p for p in document.paragraphs if p.text.strip()]
    rtl = all(p._p.pPr is not None and p._p.pPr.find(qn("w:bidi")) is not None for p in texts)
    return (len(document.paragraphs), len(document.tables)), rtl


def _pptx(data: bytes) -> tuple[Any, bool | None]:
    slides = pptx.Presentation(io.BytesIO(data)).slides
    shape = [len(slide.shapes) for slide in slides]
    paragraphs = [
        p
        for slide in slides
        for s in slide.shapes
        if s.has_text_frame
        for p in s.text_frame.paragraphs
        if p.text.strip()
    ]
    return shape, all(p._p.pPr is not None and p._p.pPr.get("rtl") == "1" for p in paragraphs)


def _xlsx(data: bytes) -> tuple[Any, bool | None]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    shape = [(s.title, s.max_row, s.max_column) for s in book.worksheets]
    return shape, all(s.sheet_view.rightToLeft for s in book.worksheets)


def _odf(data: bytes) -> tuple[Any, bool | None]:
    content = etree.fromstring(zipfile.ZipFile(io.BytesIO(data)).read("content.xml"))
    shape = [len(list(content.iter(tag))) for tag in (q("text:p"), q("text:h"), ODF_TABLE)]
    modes = {p.get(q("style:writing-mode")) for p in content.iter(q("style:paragraph-properties"))}
    return shape, "rl-tb" in modes


# name -> (file name, bytes, the reader of its structure)
FILES: dict[str, tuple[str, Callable[[], bytes], Callable[[bytes], tuple[Any, bool | None]]]] = {
    "txt": ("news.txt", lambda: documents.TEXT.encode(), _text),
    "md": ("notes.md", lambda: documents.MARKDOWN.encode(), _markdown),
    "html": ("page.html", lambda: documents.HTML.encode(), _html),
    "srt": ("film.srt", lambda: documents.subtitles("srt"), _subtitles("srt")),
    "vtt": ("film.vtt", lambda: documents.subtitles("vtt"), _subtitles("vtt")),
    "epub": ("book.epub", lambda: documents.book(3), _epub),
    "docx": ("report.docx", office.build_docx, _docx),
    "pptx": ("slides.pptx", office.build_pptx, _pptx),
    "xlsx": ("budget.xlsx", office.build_xlsx, _xlsx),
    "odt": ("report.odt", lambda: office.build_odf("odt"), _odf),
    "odp": ("slides.odp", lambda: office.build_odf("odp"), _odf),
}
OFFICE = ("docx", "pptx", "xlsx", "odt", "odp")


@pytest.mark.parametrize("fmt", list(FILES))
def test_every_format_to_arabic_through_v1_documents(server: Server, fmt: str) -> None:
    name, build, read = FILES[fmt]
    original = build()
    result_name, data = translated(server, name, original)
    stem, ext = name.rsplit(".", 1)
    assert result_name == f"{stem}.ar.{ext}"
    shape, rtl = read(data)
    before, _ = read(original)
    assert shape == before
    assert rtl in (None, True)


@pytest.mark.parametrize("fmt", OFFICE)
def test_office_formats_through_libretranslate(server: Server, fmt: str) -> None:
    name, build, read = FILES[fmt]
    original = build()
    answer = requests.post(
        f"{server.url}/translate_file",
        files={"file": (name, original)},
        data={"source": "en", "target": "ar", "api_key": KEY},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    download = requests.get(answer.json()["translatedFileUrl"], headers=AUTH, timeout=30)
    assert download.status_code == 200
    shape, rtl = read(download.content)
    assert shape == read(original)[0] and rtl


def test_the_deepl_client_translates_a_docx_and_a_txt(server: Server, tmp_path: Path) -> None:
    translator = deepl.Translator(KEY, server_url=server.url)
    source = tmp_path / "report.docx"
    source.write_bytes(office.build_docx())
    out = io.BytesIO()
    with source.open("rb") as handle:
        status = translator.translate_document(handle, out, target_lang="AR")
    assert status.done and status.billed_characters > 0
    assert _docx(out.getvalue()) == ((_docx(source.read_bytes())[0]), True)
    text = io.BytesIO()
    status = translator.translate_document(
        documents.TEXT.encode(), text, source_lang="EN", target_lang="FR", filename="news.txt"
    )
    assert status.done and status.billed_characters == sum(len(s) for s in documents.SENTENCES)
    assert len(text.getvalue().decode().strip().split("\n\n")) == len(documents.SENTENCES)


def test_a_deepl_document_is_read_only_with_its_key_and_once(server: Server) -> None:
    translator = deepl.Translator(KEY, server_url=server.url)
    handle = translator.translate_document_upload(
        b"The museum reopened.", target_lang="FR", filename="a.txt"
    )
    wrong = deepl.DocumentHandle(handle.document_id, "0" * 64)
    with pytest.raises(deepl.DeepLException, match="Not found"):
        translator.translate_document_get_status(wrong)
    other = deepl.Translator(OTHER_KEY, server_url=server.url)
    with pytest.raises(deepl.DeepLException, match="Not found"):
        other.translate_document_get_status(handle)
    assert translator.translate_document_wait_until_done(handle).done
    assert translator.translate_document_download(handle).content
    with pytest.raises(deepl.DeepLException, match="Not found"):
        translator.translate_document_download(handle)


def _deepl_upload(server: Server, name: str, data: bytes) -> requests.Response:
    return requests.post(
        f"{server.url}/v2/document",
        files={"file": (name, data)},
        data={"target_lang": "FR"},
        headers={"Authorization": f"DeepL-Auth-Key {KEY}"},
        timeout=60,
    )


def test_hostile_files_are_refused_at_upload_on_both_routes(server: Server) -> None:
    battery = documents.hostile() | {
        "oversize": ("big.txt", b"word " * (DOC_MAX_BYTES // 5 + 10), 413),
    }
    for what, (name, data, status) in battery.items():
        ours = submit(server, name, data, target="fr")
        assert ours.status_code == status, (what, ours.text)
        assert set(ours.json()["error"]) >= {"code", "message"}, what
        theirs = _deepl_upload(server, name, data)
        # DeepL answers 400 for any file it cannot translate; 413 for too large.
        assert theirs.status_code == (400 if status == 415 else status), (what, theirs.text)
        assert "message" in theirs.json(), what
    assert _files(DATA / "documents") == []


def test_a_document_survives_a_killed_worker(start_server, tmp_path: Path) -> None:
    """kill -9 of gunicorn's worker while it translates: its lease expires, the next worker
    reads the upload again and the document completes."""
    data_dir = tmp_path / "data"
    server: Server = start_server(
        {"DATA_DIR": str(data_dir), "JOBS_LEASE_S": "30", "JOBS_WORKER_ITEMS": "1"}
    )
    paragraphs = [f"Report {i}. " + " ".join(documents.SENTENCES) for i in range(200)]
    original = ("\n\n".join(paragraphs) + "\n").encode()
    answer = requests.post(
        f"{server.url}/v1/documents",
        files={"file": ("long.txt", original)},
        data={"target": "fr", "source": "en"},
        timeout=60,
    )
    assert answer.status_code == 202, answer.text
    location = f"{server.url}{answer.headers['Location']}"
    until = time.monotonic() + 120
    while "progress" not in (running := requests.get(location, timeout=30).json()):
        assert time.monotonic() < until, f"no segment was noted done: {running}"
        time.sleep(0.05)
    assert running["status"] == "running"
    assert running["progress"]["segments_total"] == len(paragraphs)
    first = worker_pid(server.process.pid)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert requests.get(location, timeout=30).json()["status"] != "done", "make it longer"
    until = time.monotonic() + 300
    while (status := requests.get(location, timeout=30).json())["status"] not in ("done", "failed"):
        assert time.monotonic() < until, status
        time.sleep(0.5)
    assert status["status"] == "done", status
    download = requests.get(f"{location}/result", timeout=30)
    assert len(download.content.decode().strip().split("\n\n")) == len(paragraphs)
    assert _files(data_dir / "documents") == []

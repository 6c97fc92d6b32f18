"""Documents through real gunicorn, as LibreTranslate's page sends them: its settings, then a
multipart upload, then the download from the answered URL (libretranslatepy has no file
method, so this is the page's own flow over plain HTTP)."""

from __future__ import annotations

import io
import random
import urllib.parse
import urllib.request
import uuid
import zipfile
from pathlib import Path

import ebooklib
from bs4 import BeautifulSoup
from ebooklib import epub

from harness import documents
from harness.server import get, post
from service.core.config import Settings


def multipart(fields: dict[str, str], name: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body as browsers send FormData: the fields and one `file`."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def test_an_epub_to_arabic_and_a_zip_bomb_through_gunicorn(start_server, tmp_path: Path) -> None:
    store = tmp_path / "data"
    server = start_server({"DATA_DIR": str(store)})
    settings = get(server.url, "/frontend/settings").body
    assert settings["filesTranslation"] and ".epub" in settings["supportedFilesFormat"]

    body, content_type = multipart({"source": "en", "target": "ar"}, "book.epub", documents.book(2))
    answer = post(server.url, "/translate_file", body, content_type=content_type)
    assert answer.status == 200, answer.body
    address = answer.body["translatedFileUrl"]
    url = urllib.parse.urlsplit(address)
    assert f"{url.scheme}://{url.netloc}" == server.url
    with urllib.request.urlopen(address, timeout=30) as download:
        assert download.status == 200
        book = epub.read_epub(io.BytesIO(download.read()), options={"ignore_ncx": True})
    chapters = [
        d for d in book.get_items_of_type(ebooklib.ITEM_DOCUMENT) if d.file_name.startswith("ch")
    ]
    assert len(chapters) == 2
    assert all(BeautifulSoup(c.content, "html.parser").html["dir"] == "rtl" for c in chapters)
    assert get(server.url, url.path).status == 404  # served once

    name, bomb, status = documents.hostile()["zip bomb"]
    body, content_type = multipart({"source": "en", "target": "fr"}, name, bomb)
    refused = post(server.url, "/translate_file", body, content_type=content_type)
    assert refused.status == status == 413 and "zip bomb" in refused.body["error"]
    # Nothing in the documents store (DATA_DIR also holds the jobs' SQLite file).
    assert [p for p in (store / "documents").rglob("*") if p.is_file()] == []


def _book_with_image(image_bytes: int) -> bytes:
    """A one-chapter book carrying an incompressible `image_bytes` picture."""
    source = zipfile.ZipFile(io.BytesIO(documents.book(1)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        for info in source.infolist():
            book.writestr(info.filename, source.read(info.filename), info.compress_type)
        book.writestr("EPUB/cover.jpg", random.Random(0).randbytes(image_bytes))
    return out.getvalue()


def test_uploads_over_the_body_limit_pass_the_production_front(start_server, tmp_path) -> None:
    """nginx lets a document through up to DOC_MAX_BYTES (not MAX_BODY_BYTES), to
    `/translate_file`, `/v1/documents` and `/v2/document`, and answers 413 in LibreTranslate's
    shape above it on LibreTranslate's route."""
    env = {"DATA_DIR": str(tmp_path / "data"), "DOC_MAX_BYTES": "4000000"}
    server = start_server(env, front=True)
    fields = {"source": "en", "target": "fr"}
    body, content_type = multipart(fields, "b.epub", _book_with_image(3_000_000))
    assert len(body) > Settings.defaults().max_body_bytes
    answer = post(server.url, "/translate_file", body, content_type=content_type)
    assert answer.status == 200, answer.body
    # The background document routes take the same bodies (/v1's and DeepL's).
    queued = post(server.url, "/v1/documents", body, content_type=content_type)
    assert queued.status == 202, queued.body
    body, content_type = multipart({"target_lang": "FR"}, "b.epub", _book_with_image(3_000_000))
    handle = post(server.url, "/v2/document", body, content_type=content_type)
    assert handle.status == 200 and set(handle.body) == {"document_id", "document_key"}
    body, content_type = multipart(fields, "b.epub", _book_with_image(4_200_000))
    refused = post(server.url, "/translate_file", body, content_type=content_type)
    assert refused.status == 413 and "limit of 4065536 bytes" in refused.body["error"]

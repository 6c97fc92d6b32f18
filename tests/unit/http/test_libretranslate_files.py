"""LibreTranslate's document routes through the real app on the tiny models: each format built
by its own library, uploaded as LibreTranslate's page uploads it (multipart `file`, `source`,
`target`), downloaded from `translatedFileUrl`, reopened by the library. The translations are
meaningless; the structure is asserted. Then every hostile file: the right 4xx, never a 5xx,
nothing left in the store."""

from __future__ import annotations

import io
import urllib.parse
from pathlib import Path

import ebooklib
import pysubs2
import pytest
from bs4 import BeautifulSoup
from ebooklib import epub
from markdown_it import MarkdownIt

from harness import documents
from service.documents.registry import FORMATS
from service.http.app import create_app

KEY_A, KEY_B = "alice-key-0123456789", "bobby-key-0123456789"


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(engine, store_dir: Path):
    settings = engine.settings.replace(data_dir=str(store_dir), doc_max_bytes=2_000_000)
    return create_app(settings, engine=engine).test_client()


def upload(client, name: str, data: bytes, target: str = "fr", **extra: str):
    form = {"file": (io.BytesIO(data), name), "source": "en", "target": target, **extra}
    return client.post("/translate_file", data=form, content_type="multipart/form-data")


def translate(client, name: str, data: bytes, target: str = "fr") -> tuple[str, bytes]:
    """Upload, then download from the answered URL: (the download's file name, its bytes)."""
    answer = upload(client, name, data, target)
    assert answer.status_code == 200, answer.get_json()
    url = urllib.parse.urlsplit(answer.get_json()["translatedFileUrl"])
    assert url.scheme == "http" and url.path.startswith("/download_file/")
    download = client.get(url.path)
    assert download.status_code == 200
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    return disposition.split("filename=", 1)[1].strip('"'), download.data


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_text_keeps_its_paragraphs(client, store_dir: Path) -> None:
    name, data = translate(client, "news.txt", documents.TEXT.encode())
    assert name == "news.fr.txt"
    assert len(data.decode().split("\n\n")) == len(documents.TEXT.split("\n\n"))
    assert _files(store_dir) == []  # deleted at its download


def test_markdown_keeps_its_syntax(client) -> None:
    name, data = translate(client, "notes.md", documents.MARKDOWN.encode())
    assert name == "notes.fr.md"
    text = data.decode()
    parser = MarkdownIt("commonmark")
    assert [t.type for t in parser.parse(text)] == [
        t.type for t in parser.parse(documents.MARKDOWN)
    ]
    assert text.startswith("# ") and "](https://example.org/plan)" in text
    assert '```python\nprint("never translated")\n```' in text


def test_html_to_arabic_is_marked_right_to_left(client) -> None:
    name, data = translate(client, "page.html", documents.HTML.encode(), target="ar")
    assert name == "page.ar.html"
    soup = BeautifulSoup(data.decode(), "html.parser")
    assert soup.html["lang"] == "ar" and soup.html["dir"] == "rtl"
    assert len(soup.find_all("p")) == 3 and len(soup.find_all("b")) == 1
    assert "var x = 'never translated';" in soup.script.string


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_keep_cues_and_timings(client, fmt: str) -> None:
    original = documents.subtitles(fmt)
    name, data = translate(client, f"film.{fmt}", original)
    assert name == f"film.fr.{fmt}"
    before = pysubs2.SSAFile.from_string(original.decode(), format_=fmt)
    after = pysubs2.SSAFile.from_string(data.decode(), format_=fmt)
    assert [(e.start, e.end) for e in after] == [(e.start, e.end) for e in before]
    assert after[3].plaintext == "\u266a"
    if fmt == "srt":
        numbers = [line for line in data.decode().splitlines() if line.isdigit()]
        assert numbers == [str(i) for i in range(1, len(before) + 1)]


def test_epub_keeps_its_chapters_and_metadata_and_reads_right_to_left(client) -> None:
    name, data = translate(client, "book.epub", documents.book(3), target="ar")
    assert name == "book.ar.epub"
    book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    assert book.get_metadata("DC", "title")[0][0] == "The Bridge"
    assert book.get_metadata("DC", "language")[0][0] == "ar"
    chapters = [
        d for d in book.get_items_of_type(ebooklib.ITEM_DOCUMENT) if d.file_name.startswith("ch")
    ]
    assert len(chapters) == 3
    for chapter in chapters:
        page = BeautifulSoup(chapter.content.decode(), "html.parser")
        assert page.html["dir"] == "rtl" and page.html["lang"] == "ar"
        assert len(page.find_all("p")) == 3


def test_the_page_flow_settings_then_file(client) -> None:
    """LibreTranslate's page reads /frontend/settings, then uploads as FormData."""
    settings = client.get("/frontend/settings").get_json()
    assert settings["filesTranslation"] is True
    assert settings["supportedFilesFormat"] == [
        ext for fmt in FORMATS.values() for ext in fmt.extensions
    ]
    assert ".txt" in settings["supportedFilesFormat"]
    assert ".epub" in settings["supportedFilesFormat"]
    translate(client, "a.txt", b"The museum reopened.")


def test_a_download_is_served_once(client) -> None:
    answer = upload(client, "a.txt", b"The museum reopened.")
    path = urllib.parse.urlsplit(answer.get_json()["translatedFileUrl"]).path
    assert client.get(path).status_code == 200
    again = client.get(path)
    assert again.status_code == 404 and "downloaded already" in again.get_json()["error"]
    assert client.get("/download_file/not-an-id.txt").status_code == 404


def test_missing_fields_are_400(client) -> None:
    assert client.post("/translate_file", data={"source": "en", "target": "fr"}).status_code == 400
    missing_target = client.post(
        "/translate_file",
        data={"file": (io.BytesIO(b"Hello."), "a.txt"), "source": "en"},
        content_type="multipart/form-data",
    )
    assert missing_target.status_code == 400
    assert missing_target.get_json() == {"error": "Invalid request: missing target parameter"}
    assert upload(client, "a.txt", b"Hello.", target="de").status_code == 400


def test_hostile_files_get_the_right_4xx_and_leave_nothing(client, store_dir: Path) -> None:
    for what, (name, data, status) in documents.hostile().items():
        answer = upload(client, name, data)
        assert answer.status_code == status, (what, answer.get_json())
        assert set(answer.get_json()) == {"error"}, what
    assert (
        "supported formats: txt, md, html"
        in upload(client, "a.docm", documents.office("docm")).get_json()["error"]
    )
    assert _files(store_dir) == []


def test_a_mislabelled_file_is_read_by_its_content(client) -> None:
    name, data = translate(client, "subtitles.txt", documents.subtitles("srt"))
    assert name == "subtitles.fr.srt"  # read as the SRT it is
    assert "-->" in data.decode()
    docx = upload(client, "report.txt", documents.office("docx"))
    assert docx.status_code == (415 if "docx" not in FORMATS else 400)


def test_over_the_size_limit_is_413(engine, tmp_path: Path) -> None:
    settings = engine.settings.replace(data_dir=str(tmp_path), doc_max_bytes=1000)
    client = create_app(settings, engine=engine).test_client()
    just_over = upload(client, "a.txt", b"word " * 201)
    assert just_over.status_code == 413 and "1,000" in just_over.get_json()["error"]
    far_over = upload(client, "a.txt", b"word " * 40_000)  # over the body limit too
    assert far_over.status_code == 413
    assert _files(tmp_path) == []


def test_a_file_is_never_served_to_another_key(engine, tmp_path: Path) -> None:
    from service.core.config import Settings

    keyed = Settings.from_env({"API_KEYS": f"{KEY_A},{KEY_B}"})
    settings = engine.settings.replace(data_dir=str(tmp_path), api_keys=keyed.api_keys)
    client = create_app(settings, engine=engine).test_client()
    assert upload(client, "a.txt", b"The museum reopened.").status_code == 403
    answer = upload(client, "a.txt", b"The museum reopened.", api_key=KEY_A)
    assert answer.status_code == 200
    path = urllib.parse.urlsplit(answer.get_json()["translatedFileUrl"]).path
    assert client.get(path).status_code == 403  # no key
    assert client.get(path, headers={"X-API-Key": KEY_B}).status_code == 404
    assert client.get(path, query_string={"api_key": KEY_A}).status_code == 200

"""Real documents for tests and benchmarks, written by the libraries users' tools use (ebooklib,
pysubs2), and the hostile files the service must refuse (zip bombs, XML entities, macros)."""

from __future__ import annotations

import io
import zipfile

import pysubs2
from ebooklib import epub

SENTENCES = [
    "The council approved the new bridge on Tuesday.",
    "Farmers fear the drought will ruin the harvest.",
    "The museum reopened after a long renovation.",
]
TEXT = "\n\n".join(SENTENCES) + "\n"
MARKDOWN = """# The *new* bridge

The council **approved** the [plan](https://example.org/plan) on `Tuesday`.

- Farmers fear the *drought*.
- The museum reopened.

```python
print("never translated")
```
"""
HTML = (
    '<!DOCTYPE html>\n<html lang="en"><head><title>News</title></head><body>'
    + "".join(f"<p>{s.replace('new', '<b>new</b>')}</p>" for s in SENTENCES)
    + "<script>var x = 'never translated';</script></body></html>\n"
)
OOXML = "application/vnd.openxmlformats-officedocument."
CONTENT_TYPES = {
    "docx": OOXML + "wordprocessingml.document.main+xml",
    "docm": "application/vnd.ms-word.document.macroEnabled.main+xml",
    "pptm": "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml",
    "xlsm": "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
}
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><html>&lol3;</html>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><html>&xxe;</html>"""


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def subtitles(fmt: str) -> bytes:
    """A real SRT or WebVTT file by pysubs2: five cues, the first sentence over two of them."""
    subs = pysubs2.SSAFile()
    texts = [
        "The council approved",
        r"the new bridge\Non Tuesday.",
        "Farmers fear the drought.",
        "\u266a",
        "The museum reopened.",
    ]
    for i, text in enumerate(texts):
        subs.append(pysubs2.SSAEvent(start=1000 * i + 500, end=1000 * i + 1400, text=text))
    return subs.to_string(fmt).encode()


def book(chapters: int = 3) -> bytes:
    """A real EPUB 3 by ebooklib: metadata, a style sheet, chapters, nav and ncx."""
    built = epub.EpubBook()
    built.set_identifier("urn:test:book")
    built.set_title("The Bridge")
    built.set_language("en")
    built.add_author("A. Reporter")
    built.add_item(
        epub.EpubItem(uid="style", file_name="style.css", media_type="text/css", content=b"p{}")
    )
    items = []
    for i in range(chapters):
        chapter = epub.EpubHtml(title=f"Chapter {i + 1}", file_name=f"ch{i + 1}.xhtml", lang="en")
        chapter.content = f"<h1>Chapter {i + 1}</h1>" + "".join(f"<p>{s}</p>" for s in SENTENCES)
        built.add_item(chapter)
        items.append(chapter)
    built.toc = items
    built.add_item(epub.EpubNcx())
    built.add_item(epub.EpubNav())
    built.spine = ["nav", *items]
    out = io.BytesIO()
    epub.write_epub(out, built)
    return out.getvalue()


def office(kind: str, document: bytes = b"<w:document xmlns:w='urn:w'/>") -> bytes:
    """The smallest OOXML package of `kind` (docx, docm, pptm, xlsm): enough for detection."""
    types = (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'content-types"><Override PartName="/word/document.xml" '
        f'ContentType="{CONTENT_TYPES[kind]}"/></Types>'
    ).encode()
    return zipped({"[Content_Types].xml": types, "word/document.xml": document})


def hostile() -> dict[str, tuple[str, bytes, int]]:
    """Bad files by what they are: name -> (file name sent, bytes, the status they must get)."""
    epub_mimetype = {"mimetype": b"application/epub+zip"}
    good_book = book(1)
    return {
        "zip bomb": ("bomb.epub", zipped({**epub_mimetype, "a.xhtml": b"\0" * 30_000_000}), 413),
        "too many members": ("many.epub", zipped({f"m{i}": b"" for i in range(3000)}), 413),
        "billion laughs": (
            "laughs.epub",
            zipped({**epub_mimetype, "a.xhtml": BILLION_LAUGHS}),
            400,
        ),
        "xxe": ("xxe.epub", zipped({**epub_mimetype, "a.xhtml": XXE}), 400),
        "docm": ("report.docm", office("docm"), 415),
        "pptm": ("slides.pptm", office("pptm"), 415),
        "xlsm": ("sheet.xlsm", office("xlsm"), 415),
        "truncated epub": ("cut.epub", good_book[: len(good_book) // 2], 400),
        "png named docx": ("photo.docx", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, 415),
        "pdf": ("paper.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", 415),
        "latin-1 text": ("notes.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"), 415),
        "empty": ("empty.txt", b"", 415),
    }

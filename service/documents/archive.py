"""Writing a zip-based document back with some members replaced, everything else as it was.

Every member keeps its place, name, date and compression, so an ODF file's `mimetype` stays
first and stored (ODF requires both) and the parts no format touched stay byte for byte.
"""

from __future__ import annotations

import io
import zipfile

from lxml import etree

from service.documents.safety import read_member


def replace_members(archive: zipfile.ZipFile, replaced: dict[str, bytes]) -> bytes:
    """The archive's bytes with `replaced[name]` written in place of each member named."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as copy:
        for info in archive.infolist():
            data = replaced.get(info.filename)
            copy.writestr(info, data if data is not None else read_member(archive, info.filename))
    return out.getvalue()


def parse_member(archive: zipfile.ZipFile, name: str) -> etree._Element:
    """A member's XML parsed with lxml (call after `open_zip` checked it with defusedxml; the
    parser still resolves no entities and reads nothing from the network)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.fromstring(read_member(archive, name), parser)


def serialize(root: etree._Element) -> bytes:
    """XML bytes with the declaration Office applications write."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)

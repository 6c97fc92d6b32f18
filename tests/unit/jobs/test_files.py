"""The temporary document store: unguessable ids, one owner, one download, a retention time,
a size bound that refuses rather than evicts, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.core.errors import PayloadTooLarge, StorageFull
from service.jobs.files import FileStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _store(root: Path, clock: Clock | None = None, max_bytes: int = 1000) -> FileStore:
    return FileStore(root, max_bytes=max_bytes, retention_s=60, clock=clock or Clock())


def test_a_file_is_served_once_to_its_owner(tmp_path: Path) -> None:
    store = _store(tmp_path / "docs")
    file_id = store.put("alice", "a.fr.txt", b"bonjour", "text/plain")
    assert len(file_id) == 32 and file_id != store.put("alice", "a.fr.txt", b"x", "text/plain")
    assert store.take(file_id, "bob") is None
    assert store.take(file_id, None) is None
    found = store.take(file_id, "alice")
    assert found is not None and (found.name, found.data) == ("a.fr.txt", b"bonjour")
    assert found.media_type == "text/plain"
    assert store.take(file_id, "alice") is None  # downloaded already


def test_without_keys_the_id_alone_reads_it(tmp_path: Path) -> None:
    store = _store(tmp_path)
    file_id = store.put(None, "a.txt", b"x", "text/plain")
    assert store.take(file_id, "alice") is None
    assert store.take(file_id, None) is not None


@pytest.mark.parametrize("bad", ["", "../../etc/passwd", "x" * 31, "a/b" + "c" * 29])
def test_ids_that_are_not_ids_read_as_missing(tmp_path: Path, bad: str) -> None:
    assert _store(tmp_path).take(bad, None) is None


def test_files_expire_after_the_retention(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    file_id = store.put(None, "a.txt", b"x" * 10, "text/plain")
    clock.now += 61
    assert store.take(file_id, None) is None
    assert list(tmp_path.iterdir()) == []


def test_a_full_store_refuses_instead_of_evicting(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock, max_bytes=100)
    kept = store.put(None, "a.txt", b"x" * 60, "text/plain")
    with pytest.raises(StorageFull):
        store.put(None, "b.txt", b"y" * 60, "text/plain")
    with pytest.raises(PayloadTooLarge):
        store.put(None, "c.txt", b"z" * 101, "text/plain")
    assert store.take(kept, None) is not None  # the first is still there, and frees its room
    store.put(None, "b.txt", b"y" * 60, "text/plain")
    clock.now += 61
    store.put(None, "d.txt", b"w" * 60, "text/plain")  # the expired one made room
    assert store.used_bytes() == 60


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path)

    def failing_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("service.jobs.files.os.replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        store.put(None, "a.txt", b"x", "text/plain")
    assert list(tmp_path.iterdir()) == []


def test_read_keeps_the_file_and_delete_removes_it_with_its_note(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    file_id = store.put("alice", "a.txt", b"upload", "text/plain")
    assert store.read(file_id, "bob") is None
    for _ in range(2):  # read again, as a worker after a crash
        found = store.read(file_id, "alice")
        assert found is not None and found.data == b"upload"
    store.note_progress(file_id, 64, 130)
    assert store.progress(file_id) == (64, 130)
    store.note_progress(file_id, 128, 130)
    assert store.progress(file_id) == (128, 130)
    assert not store.delete(file_id, "bob")
    assert store.delete(file_id, "alice")
    assert store.read(file_id, "alice") is None and store.progress(file_id) is None
    assert list(tmp_path.iterdir()) == []
    store.note_progress(file_id, 1, 2)  # a note for a file that is gone is not written
    assert list(tmp_path.iterdir()) == []


def test_an_expired_upload_is_not_read_and_its_note_is_swept(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    file_id = store.put(None, "a.txt", b"upload", "text/plain")
    store.note_progress(file_id, 1, 2)
    clock.now += 61
    assert store.read(file_id, None) is None
    assert store.purge() == 1
    assert list(tmp_path.iterdir()) == []


def test_one_key_cannot_fill_the_store_for_the_others(tmp_path: Path) -> None:
    """Past its share (DOC_STORE_KEY_SHARE) a key is refused; another key still gets room, and
    the first gets room back as its files are downloaded."""
    store = FileStore(tmp_path, max_bytes=1000, retention_s=60, max_owner_bytes=500, clock=Clock())
    first = store.put("greedy", "a.txt", b"x" * 300, "text/plain")
    store.put("greedy", "b.txt", b"x" * 200, "text/plain")
    with pytest.raises(StorageFull, match="this API key's documents"):
        store.put("greedy", "c.txt", b"x", "text/plain")
    store.put("modest", "d.txt", b"x" * 400, "text/plain")  # the store itself has room
    assert store.owner_bytes("greedy") == 500 and store.owner_bytes("modest") == 400
    assert store.take(first, "greedy") is not None
    store.put("greedy", "c.txt", b"x" * 100, "text/plain")


def test_with_keys_off_only_the_whole_store_bounds_uploads(tmp_path: Path) -> None:
    store = FileStore(tmp_path, max_bytes=1000, retention_s=60, max_owner_bytes=500, clock=Clock())
    store.put(None, "a.txt", b"x" * 900, "text/plain")  # everyone is one owner: no share
    with pytest.raises(StorageFull, match="store of translated documents is full"):
        store.put(None, "b.txt", b"x" * 200, "text/plain")

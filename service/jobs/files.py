"""The temporary store of translated documents: LibreTranslate's clients upload a file, get a
URL back, and fetch the translation from it once.

What a caller can rely on:
- `put` returns an opaque id (192 random bits, URL-safe): not guessable, and nothing else
  about the file is in it. The file is written under a temporary name and renamed into place,
  so a failure leaves nothing behind, and a reader never sees half a file.
- `take` returns the file only to the owner that put it (the API key's name when keys are on;
  None when they are off, when the id alone is the capability), and deletes it: a download is
  served once. Another owner, an unknown id or a file past its retention all read as missing.
- A file is deleted at its first download or after `retention_s`, whichever comes first;
  expired files are swept on every `put` and `take`.
- The store holds at most `max_bytes`: a `put` that would pass it is refused with StorageFull
  (503 with Retry-After) instead of evicting results a client has not fetched yet; downloads
  and the retention sweep free space.
- `read` hands a file to its owner without deleting it (a background document's upload, read
  again if its worker dies), `delete` removes one; both are owner-checked like `take`.
- `note_progress` keeps a small note beside a stored file (how far its job is: `done` of
  `total`), read back by `progress` from any process; it goes with its file.
- Several processes may share the directory: a take claims the file by renaming it first, so
  two concurrent downloads of one id serve it once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from service.core.errors import PayloadTooLarge, StorageFull

_ID_RE = re.compile(r"\A[A-Za-z0-9_-]{32}\Z")
_FIELDS = ("owner", "created", "name", "media_type")
_DATA, _META, _TEMP, _CLAIM = ".bin", ".json", ".tmp", ".taken"
_PROGRESS = ".progress"


@dataclass(frozen=True)
class StoredFile:
    """A stored file as `take` hands it back."""

    id: str
    name: str
    data: bytes
    media_type: str


def _owner_digest(owner: str | None) -> str:
    return hashlib.sha256(("key:" + owner if owner is not None else "open").encode()).hexdigest()


class FileStore:
    """Files under `root`, each as `<id>.bin` beside its `<id>.json` (name, owner, time)."""

    def __init__(
        self,
        root: Path,
        *,
        max_bytes: int,
        retention_s: float,
        max_owner_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        # What one owner's files may hold of it (None: no share); with keys off (owner None)
        # everyone is one owner and only `max_bytes` applies.
        self.max_owner_bytes = max_owner_bytes
        self.retention_s = retention_s
        self._clock = clock
        self._lock = threading.Lock()

    def put(self, owner: str | None, name: str, data: bytes, media_type: str) -> str:
        """Store `data` for `owner` as `name`; its id. PayloadTooLarge when one file is over
        the whole store's size, StorageFull when the store has no room for it now."""
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(
                f"the translated file is {len(data):,} bytes; the store holds {self.max_bytes:,}"
            )
        file_id = secrets.token_urlsafe(24)
        meta = {
            "name": name,
            "owner": _owner_digest(owner),
            "created": self._clock(),
            "media_type": media_type,
        }
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            self.purge()
            if self.used_bytes() + len(data) > self.max_bytes:
                raise StorageFull(
                    "the store of translated documents is full; try again when others have "
                    "been downloaded"
                )
            share = self.max_owner_bytes
            if owner is not None and share is not None:
                if self.owner_bytes(owner) + len(data) > share:
                    raise StorageFull(
                        "this API key's documents waiting for download fill its share of the "
                        "store (DOC_STORE_KEY_SHARE); download them, or wait for them to expire"
                    )
            self._write(file_id + _DATA, data)
            try:
                self._write(file_id + _META, json.dumps(meta).encode())
            except BaseException:
                self._remove(file_id + _DATA)
                raise
        return file_id

    def take(self, file_id: str, owner: str | None) -> StoredFile | None:
        """The file, deleted from the store as it is handed back; None when there is none for
        this owner (unknown id, another owner's, expired, or downloaded already)."""
        if not _ID_RE.match(file_id) or not self.root.is_dir():
            return None
        with self._lock:
            self.purge()
            meta = self._meta(file_id)
            if meta is None or not hmac.compare_digest(meta["owner"], _owner_digest(owner)):
                return None
            claimed = self.root / (file_id + _CLAIM)
            try:
                os.rename(self.root / (file_id + _DATA), claimed)
            except FileNotFoundError:
                return None  # another process took it first
            try:
                data = claimed.read_bytes()
            finally:
                self._remove(file_id + _CLAIM)
                self._remove(file_id + _META)
        return StoredFile(file_id, meta["name"], data, meta["media_type"])

    def read(self, file_id: str, owner: str | None) -> StoredFile | None:
        """The file, left in the store; None as for `take`."""
        if not _ID_RE.match(file_id) or not self.root.is_dir():
            return None
        meta = self._owned(file_id, owner)
        if meta is None:
            return None
        try:
            data = (self.root / (file_id + _DATA)).read_bytes()
        except FileNotFoundError:
            return None
        return StoredFile(file_id, meta["name"], data, meta["media_type"])

    def delete(self, file_id: str, owner: str | None) -> bool:
        """Remove the owner's file; whether there was one."""
        if not _ID_RE.match(file_id) or not self.root.is_dir():
            return False
        with self._lock:
            if self._owned(file_id, owner) is None:
                return False
            self._remove(file_id + _DATA)
            self._remove(file_id + _META)
            self._remove(file_id + _PROGRESS)
        return True

    def note_progress(self, file_id: str, done: int, total: int) -> None:
        """Note how far the work on a stored file is (a job's worker, as it goes)."""
        if _ID_RE.match(file_id) and (self.root / (file_id + _META)).exists():
            self._write(file_id + _PROGRESS, json.dumps([done, total]).encode())

    def progress(self, file_id: str) -> tuple[int, int] | None:
        """The last note of `note_progress` for the file, or None."""
        if not _ID_RE.match(file_id):
            return None
        try:
            done, total = json.loads((self.root / (file_id + _PROGRESS)).read_bytes())
        except (FileNotFoundError, ValueError, TypeError):
            return None
        return int(done), int(total)

    def _owned(self, file_id: str, owner: str | None) -> dict | None:
        meta = self._meta(file_id)
        if meta is None or not hmac.compare_digest(meta["owner"], _owner_digest(owner)):
            return None
        if meta["created"] < self._clock() - self.retention_s:
            return None
        return meta

    def purge(self) -> int:
        """Delete files past their retention (and leftovers of failed writes); how many."""
        if not self.root.is_dir():
            return 0
        deadline, removed = self._clock() - self.retention_s, 0
        for path in self.root.iterdir():
            if path.suffix == _META:
                meta = self._meta(path.stem)
                if meta is None or meta["created"] < deadline:
                    self._remove(path.stem + _DATA)
                    self._remove(path.stem + _PROGRESS)
                    self._remove(path.name)
                    removed += 1
            elif path.suffix in (_TEMP, _CLAIM, _DATA, _PROGRESS) and self._stale(path, deadline):
                self._remove(path.name)
        return removed

    def owner_bytes(self, owner: str | None) -> int:
        """Bytes of the files `owner` holds now."""
        digest, total = _owner_digest(owner), 0
        for meta_path in self.root.glob(f"*{_META}"):
            file_id = meta_path.name.removesuffix(_META)
            meta = self._meta(file_id)
            if meta is None or not hmac.compare_digest(meta["owner"], digest):
                continue
            try:
                total += (self.root / (file_id + _DATA)).stat().st_size
            except FileNotFoundError:  # taken meanwhile
                continue
        return total

    def used_bytes(self) -> int:
        """Bytes of the files held now."""
        if not self.root.is_dir():
            return 0
        total = 0
        for path in self.root.glob(f"*{_DATA}"):
            try:
                total += path.stat().st_size
            except FileNotFoundError:  # another process took or purged it meanwhile
                continue
        return total

    def _stale(self, path: Path, deadline: float) -> bool:
        """A file with no record beside it, older than the retention (a write that failed)."""
        if path.suffix in (_DATA, _PROGRESS) and (self.root / (path.stem + _META)).exists():
            return False
        try:
            return path.stat().st_mtime < deadline
        except FileNotFoundError:
            return False

    def _meta(self, file_id: str) -> dict | None:
        try:
            meta = json.loads((self.root / (file_id + _META)).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        return meta if isinstance(meta, dict) and all(k in meta for k in _FIELDS) else None

    def _write(self, name: str, data: bytes) -> None:
        temp = self.root / f".{name}{_TEMP}"
        try:
            temp.write_bytes(data)
            os.replace(temp, self.root / name)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _remove(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

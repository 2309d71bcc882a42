"""A versioned object store in a local folder, shaped like S3 buckets, keys and versions.

Layout: `ROOT/BUCKET/ENCODED_KEY/VERSION_ID`, where ENCODED_KEY is the object key
percent-encoded with no safe characters, so no key can name a path outside its bucket.
A key whose encoding exceeds the maximum file name length, or is "." or "..", gets the
directory `+SHA256_HEX` instead, with the key itself in the file `key` inside it. Percent
encoding never produces "+", so the two forms cannot collide.
Version ids sort by creation time, so the newest version is the largest name.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from firmseal.errors import InvalidInputError, NotFoundError
from firmseal.objects.writer import BackgroundWriter

# S3's rules for bucket names: 3 to 63 lowercase letters, digits, dots and hyphens.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_VERSION = re.compile(r"^[0-9]{20}-[0-9a-f]{16}$")
MAX_KEY_BYTES = 1024
# NAME_MAX of ext4, XFS, btrfs and APFS.
MAX_FILE_NAME_BYTES = 255
_HASHED_PREFIX = "+"
_KEY_FILE = "key"


@dataclass(frozen=True)
class ObjectVersion:
    bucket: str
    key: str
    version_id: str
    size: int


def check_bucket(bucket: str) -> str:
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise InvalidInputError(
            f"invalid bucket name {bucket!r}; use 3 to 63 lowercase letters, digits, "
            "dots and hyphens, starting and ending with a letter or digit"
        )
    return bucket


def check_key(key: str) -> str:
    encoded = key.encode("utf-8", "surrogatepass")
    if (
        not key
        or len(encoded) > MAX_KEY_BYTES
        or any(ord(c) < 32 for c in key)
        or any("\ud800" <= c <= "\udfff" for c in key)
    ):
        raise InvalidInputError(
            f"invalid object key {key!r}; use 1 to {MAX_KEY_BYTES} bytes of UTF-8 with no "
            "control characters"
        )
    return key


def new_version_id() -> str:
    return f"{time.time_ns():020d}-{secrets.token_hex(8)}"


class Sink(Protocol):
    """The destination of TeeReader's copies: any object with a binary `write`."""

    def write(self, data: bytes | bytearray | memoryview, /) -> int: ...


class TeeReader:
    """A read-only stream that copies every byte read from `source` into `sink`."""

    def __init__(self, source: BinaryIO, sink: Sink) -> None:
        self._source = source
        self._sink = sink

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._sink.write(data)
        return data

    def readinto(self, buffer: memoryview | bytearray) -> int:
        count = self._source.readinto(buffer)  # type: ignore[attr-defined]
        self._sink.write(memoryview(buffer)[:count])
        return int(count)

    def readline(self, limit: int = -1) -> bytes:
        data = self._source.readline(limit)
        self._sink.write(data)
        return data

    def __enter__(self) -> TeeReader:
        return self

    def __exit__(self, *_: object) -> None:
        return None


class PendingObject:
    """An object being written through `sink`, published only by `commit`.

    The sink writes from a background thread (see BackgroundWriter), so a caller that hashes
    what it writes hashes one chunk while the previous one goes to disk.
    """

    def __init__(self, directory: Path, bucket: str, key: str) -> None:
        self._directory = directory
        self.bucket = bucket
        self.key = key
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".pending.", dir=directory)
        self._tmp = Path(name)
        self._writer = BackgroundWriter(fd, name)

    @property
    def path(self) -> Path:
        """The temporary file being written, removed by `abort` and renamed by `commit`."""
        return self._tmp

    @property
    def sink(self) -> BackgroundWriter:
        return self._writer

    def reopen(self) -> BinaryIO:
        """Open what has been written so far for reading, as an independent stream."""
        self._writer.flush()
        return self._tmp.open("rb")

    def commit(self) -> ObjectVersion:
        self._writer.sync()
        size = self._writer.tell()
        self._writer.close()
        version_id = new_version_id()
        os.replace(self._tmp, self._directory / version_id)
        return ObjectVersion(self.bucket, self.key, version_id, size)

    def abort(self) -> None:
        self._writer.discard()
        self._tmp.unlink(missing_ok=True)


class LocalObjectStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _object_dir(self, bucket: str, key: str) -> Path:
        return self._root / check_bucket(bucket) / _entry_name(check_key(key))

    def begin_put(self, bucket: str, key: str) -> PendingObject:
        directory = self._object_dir(bucket, key)
        if directory.name.startswith(_HASHED_PREFIX):
            _write_key_file(directory, key)
        return PendingObject(directory, bucket, key)

    def put_stream(self, bucket: str, key: str, stream: BinaryIO) -> ObjectVersion:
        pending = self.begin_put(bucket, key)
        try:
            while chunk := stream.read(1024 * 1024):
                pending.sink.write(chunk)
        except BaseException:
            pending.abort()
            raise
        return pending.commit()

    def path_of(self, bucket: str, key: str, version_id: str | None = None) -> Path:
        """Return the file of one version (the newest when `version_id` is None)."""
        directory = self._object_dir(bucket, key)
        if version_id is None:
            versions = self._versions(directory)
            if not versions:
                raise NotFoundError(f"object s3://{bucket}/{key} not found")
            return directory / versions[-1]
        if not _VERSION.match(version_id):
            raise NotFoundError(f"version {version_id!r} of s3://{bucket}/{key} not found")
        path = directory / version_id
        if not path.is_file():
            raise NotFoundError(f"version {version_id!r} of s3://{bucket}/{key} not found")
        return path

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectVersion]:
        """Yield the newest version of every key in `bucket` that starts with `prefix`."""
        bucket_dir = self._root / check_bucket(bucket)
        if not bucket_dir.is_dir():
            return
        entries = [(_entry_key(entry), entry) for entry in bucket_dir.iterdir()]
        for key, entry in sorted((k, e) for k, e in entries if k is not None):
            versions = self._versions(entry)
            if key.startswith(prefix) and versions:
                newest = entry / versions[-1]
                yield ObjectVersion(bucket, key, versions[-1], newest.stat().st_size)

    @staticmethod
    def _versions(directory: Path) -> list[str]:
        if not directory.is_dir():
            return []
        return sorted(name for name in os.listdir(directory) if _VERSION.match(name))


def _entry_name(key: str) -> str:
    encoded = urllib.parse.quote(key, safe="")
    if len(encoded) <= MAX_FILE_NAME_BYTES and encoded not in (".", ".."):
        return encoded
    return _HASHED_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def _entry_key(entry: Path) -> str | None:
    """Return the object key a bucket entry stores, or None for an unfinished entry."""
    if not entry.name.startswith(_HASHED_PREFIX):
        return urllib.parse.unquote(entry.name)
    try:
        return (entry / _KEY_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _write_key_file(directory: Path, key: str) -> None:
    """Store the key of a hashed entry, replacing the file atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / _KEY_FILE
    if path.is_file():
        return
    fd, name = tempfile.mkstemp(prefix=".key.", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(key)
    os.replace(name, path)


def head_local(store: LocalObjectStore, bucket: str, key: str, version_id: str) -> ObjectVersion:
    """Return the size of one stored version; raise NotFoundError if it does not exist."""
    path = store.path_of(bucket, key, version_id)
    return ObjectVersion(bucket, key, version_id, path.stat().st_size)

"""BackgroundWriter and PendingObject: what is written, in which order, and how errors surface."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest

from firmseal.objects import writer as writer_module
from firmseal.objects.local import LocalObjectStore
from firmseal.objects.writer import BUFFER_SIZE, DIRECT_ALIGNMENT, BackgroundWriter

# Sizes that hit every path: tiny, one byte short of and past an aligned block, exactly one
# buffer, and several buffers with an unaligned tail.
WRITE_SIZES = [1, 7, DIRECT_ALIGNMENT - 1, DIRECT_ALIGNMENT + 1, BUFFER_SIZE, 3 * BUFFER_SIZE + 5]


def _open_new(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def _payload(size: int, seed: int = 0) -> bytes:
    """Return `size` bytes of a pattern whose period (251) is prime to every buffer size."""
    pattern = bytes((seed + index) % 251 for index in range(251))
    return (pattern * (size // 251 + 1))[:size]


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "buffered"])
def test_writer_stores_every_byte_in_order(tmp_path: Path, direct: bool) -> None:
    path = tmp_path / "object"
    chunks = [_payload(size, seed) for seed, size in enumerate(WRITE_SIZES)]
    with BackgroundWriter(_open_new(path), str(path), direct=direct) as writer:
        for chunk in chunks:
            assert writer.write(chunk) == len(chunk)
        writer.sync()
        assert writer.tell() == sum(map(len, chunks))
    assert path.read_bytes() == b"".join(chunks)


def test_writer_copies_caller_buffer_before_returning(tmp_path: Path) -> None:
    path = tmp_path / "object"
    buffer = bytearray(b"a" * BUFFER_SIZE)
    with BackgroundWriter(_open_new(path), str(path)) as writer:
        writer.write(memoryview(buffer))
        buffer[:] = b"b" * BUFFER_SIZE
        writer.write(buffer)
    assert path.read_bytes() == b"a" * BUFFER_SIZE + b"b" * BUFFER_SIZE


def test_writer_flush_makes_data_readable(tmp_path: Path) -> None:
    path = tmp_path / "object"
    first = _payload(BUFFER_SIZE + 3)
    second = _payload(2 * BUFFER_SIZE, seed=9)
    with BackgroundWriter(_open_new(path), str(path)) as writer:
        writer.write(first)
        writer.flush()
        assert path.read_bytes() == first
        # The flushed tail left the file offset unaligned, so later writes use the page cache.
        writer.write(second)
        writer.flush()
        assert not writer.direct
    assert path.read_bytes() == first + second


def test_writer_falls_back_when_direct_write_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    rejected: list[int] = []

    def reject_first_write(fd: int, data: bytes | memoryview) -> int:
        if not rejected:
            rejected.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(writer_module.os, "write", reject_first_write)
    path = tmp_path / "object"
    data = _payload(2 * BUFFER_SIZE)
    with BackgroundWriter(_open_new(path), str(path)) as writer:
        writer.write(data)
        writer.flush()
        assert not writer.direct
    assert rejected == [BUFFER_SIZE]
    assert path.read_bytes() == data


def test_writer_raises_thread_error_on_flush(tmp_path: Path) -> None:
    path = tmp_path / "object"
    path.write_bytes(b"")
    read_only = os.open(path, os.O_RDONLY)
    writer = BackgroundWriter(read_only, str(path), direct=False)
    writer.write(_payload(BUFFER_SIZE))
    with pytest.raises(OSError) as raised:
        writer.flush()
    assert raised.value.errno == errno.EBADF
    with pytest.raises(OSError):
        writer.write(b"more")
    writer.discard()
    with pytest.raises(ValueError, match="closed file"):
        writer.write(b"after discard")


def test_writer_close_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "object"
    writer = BackgroundWriter(_open_new(path), str(path))
    writer.write(b"data")
    writer.close()
    writer.close()
    writer.discard()
    assert path.read_bytes() == b"data"


def test_pending_object_commit_publishes_version(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    data = _payload(2 * BUFFER_SIZE + 17)
    pending = store.begin_put("firmseal-source", "fw.bin")
    pending.sink.write(data[:BUFFER_SIZE])
    with pending.reopen() as partial:
        assert partial.read() == data[:BUFFER_SIZE]
    pending.sink.write(data[BUFFER_SIZE:])
    version = pending.commit()
    assert version.size == len(data)
    path = store.path_of("firmseal-source", "fw.bin", version.version_id)
    assert path.read_bytes() == data
    assert not list(path.parent.glob(".pending.*"))


def test_pending_object_abort_removes_temporary_file(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    pending = store.begin_put("firmseal-source", "fw.bin")
    pending.sink.write(_payload(BUFFER_SIZE + 1))
    pending.abort()
    assert list((tmp_path / "objects").rglob("*.pending.*")) == []
    assert list(store.list_objects("firmseal-source")) == []


@pytest.mark.parametrize(
    "key",
    ["k" * 300, "é" * 200, ".", "..", "a" * 1024],
    ids=["300-ascii", "200-two-byte", "dot", "dot-dot", "1024-bytes"],
)
def test_local_store_hashes_unsafe_keys(tmp_path: Path, key: str) -> None:
    root = tmp_path / "objects"
    store = LocalObjectStore(root)
    version = store.put_stream("firmseal-source", key, io.BytesIO(b"image"))
    path = store.path_of("firmseal-source", key, version.version_id)
    assert path.read_bytes() == b"image"
    assert path.parent.parent == root / "firmseal-source"
    assert path.parent.name.startswith("+")
    listed = list(store.list_objects("firmseal-source"))
    assert [(o.key, o.version_id) for o in listed] == [(key, version.version_id)]


def test_local_store_lists_short_and_long_keys(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    for key in ["b/short", "a/" + "x" * 400, "c"]:
        store.put_stream("firmseal-source", key, io.BytesIO(key.encode()))
    listed = [o.key for o in store.list_objects("firmseal-source")]
    assert listed == ["a/" + "x" * 400, "b/short", "c"]
    assert [o.key for o in store.list_objects("firmseal-source", "a/")] == ["a/" + "x" * 400]

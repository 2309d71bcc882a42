"""A file writer that overlaps disk writes with the caller's work, in bounded memory.

The signing path hashes an image and stores a copy of it at the same time. With a plain
file, each chunk is hashed and then written, one after the other. `BackgroundWriter` copies
each chunk into one of a few buffers and returns at once. A thread writes the full buffers
out, so the next chunk is hashed while this one goes to disk. Both hashlib and os.write
release the GIL for large buffers, so the two run in parallel.

Whole, aligned buffers are written with O_DIRECT where the file system accepts it (Linux).
The stored copy is kept for the record and is rarely read back, so it should not fill the
page cache and evict what other processes use. On the 2-vCPU virtual machine measured in
docs/benchmarks.md, a buffered write of 1 GiB also cost about 1 to 3 s of system time,
spent faulting in fresh page-cache memory, which O_DIRECT avoids. A partial buffer, at the
end or at a `flush`, is written through the page cache when its length is not aligned, and
so is everything after it, because the file offset is then unaligned. O_DIRECT does not
replace `fsync`: the caller still calls `sync` before it publishes the file.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import queue
import threading
from types import TracebackType

BUFFER_SIZE = 1024 * 1024
# One buffer being filled by the caller while the other is written: enough to keep both
# threads busy (a third measured no faster), and memory use stays at 2 MiB whatever the
# file size.
BUFFER_COUNT = 2
# O_DIRECT needs the buffer address, the file offset and the length to be multiples of the
# device's logical block size. 4096 covers 512-byte and 4 KiB sectors. A device that needs
# more makes the write fail with EINVAL, and the writer then goes on through the page cache.
DIRECT_ALIGNMENT = 4096
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)


def _set_direct(fd: int, enabled: bool) -> bool:
    """Turn O_DIRECT on or off for `fd`; return False if the file system rejects it."""
    if not _O_DIRECT:
        return False
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        new_flags = (flags | _O_DIRECT) if enabled else (flags & ~_O_DIRECT)
        fcntl.fcntl(fd, fcntl.F_SETFL, new_flags)
    except OSError:
        return False
    return True


class BackgroundWriter:
    """A write-only stream over an open file descriptor, written by a background thread.

    `write` returns once the data is copied into a buffer, so the caller may reuse its own
    buffer at once, as with a normal file. An error in the writing thread is raised by the
    next call to `write`, `flush`, `sync` or `close`. The writer owns `fd` and closes it.
    """

    def __init__(self, fd: int, name: str, *, direct: bool = True) -> None:
        self._fd = fd
        self.name = name
        self._direct = direct and _set_direct(fd, True)
        self._offset = 0  # bytes written to the file; only the writing thread changes it
        self._accepted = 0  # bytes passed to write()
        self._error: Exception | None = None
        self._closed = False
        # Anonymous mappings are page-aligned, as O_DIRECT requires.
        self._free: queue.Queue[mmap.mmap] = queue.Queue()
        for _ in range(BUFFER_COUNT):
            self._free.put(mmap.mmap(-1, BUFFER_SIZE))
        self._full: queue.Queue[tuple[mmap.mmap, int] | None] = queue.Queue()
        self._current = self._free.get()
        self._filled = 0
        # A daemon thread, so an object that is never closed cannot keep the process alive.
        self._thread = threading.Thread(target=self._run, name=f"writer {name}", daemon=True)
        self._thread.start()

    @property
    def direct(self) -> bool:
        """Whether whole buffers still bypass the page cache."""
        return self._direct

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._check_open()
        self._raise_error()
        with memoryview(data) as source, source.cast("B") as octets:
            position = 0
            while position < len(octets):
                count = min(len(octets) - position, BUFFER_SIZE - self._filled)
                end = self._filled + count
                self._current[self._filled : end] = octets[position : position + count]
                self._filled = end
                position += count
                if self._filled == BUFFER_SIZE:
                    self._submit()
                    self._raise_error()
            self._accepted += len(octets)
            return len(octets)

    def tell(self) -> int:
        """Return the number of bytes accepted by `write`, written out or not."""
        return self._accepted

    def flush(self) -> None:
        """Write out everything accepted so far and wait until the thread has written it."""
        self._check_open()
        if self._filled:
            self._submit()
        self._full.join()
        self._raise_error()

    def sync(self) -> None:
        """Flush, then fsync the file so its data and size are on stable storage."""
        self.flush()
        os.fsync(self._fd)

    def close(self) -> None:
        """Flush, stop the thread and close the file; raise the first write error, if any."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._stop()

    def discard(self) -> None:
        """Stop the thread and close the file without raising write errors."""
        if not self._closed:
            self._stop()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()

    def _submit(self) -> None:
        self._full.put((self._current, self._filled))
        # Blocks while every buffer is queued or being written, which bounds memory.
        self._current = self._free.get()
        self._filled = 0

    def _stop(self) -> None:
        self._closed = True
        self._full.put(None)
        self._thread.join()
        os.close(self._fd)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"write to closed file {self.name}")

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            item = self._full.get()
            try:
                if item is None:
                    return
                buffer, length = item
                # After an error the thread only recycles buffers, so a caller waiting in
                # write() for a free buffer gets one, and write() then raises the error.
                if self._error is None:
                    try:
                        self._write_out(buffer, length)
                    except Exception as exc:  # raised to the caller's thread, not lost
                        self._error = exc
                self._free.put(buffer)
            finally:
                self._full.task_done()

    def _write_out(self, buffer: mmap.mmap, length: int) -> None:
        pending = memoryview(buffer)[:length]
        while pending:
            if self._direct and not self._aligned(len(pending)):
                self._direct = not _set_direct(self._fd, False)
            try:
                written = os.write(self._fd, pending)
            except OSError as exc:
                if exc.errno != errno.EINVAL or not self._direct:
                    raise
                # The device needs a larger alignment: go on through the page cache.
                self._direct = not _set_direct(self._fd, False)
                if self._direct:
                    raise
                continue
            pending = pending[written:]
            self._offset += written

    def _aligned(self, length: int) -> bool:
        return length % DIRECT_ALIGNMENT == 0 and self._offset % DIRECT_ALIGNMENT == 0

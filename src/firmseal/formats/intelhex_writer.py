"""Streaming Intel HEX output, record for record as the `intelhex` package writes it.

imgtool 2.x saves HEX output with `intelhex` 2.3, so matching its records keeps firmseal's
HEX output byte-identical to imgtool's. That means 16 data bytes a record (fewer before a
gap or a 64 KiB boundary), uppercase hex and LF line endings. An extended linear address
record (type 04) comes before the first record of each 64 KiB segment when any address is
above 0xFFFF, and there is no start address record. Memory stays bounded by one chunk.
"""

from __future__ import annotations

import binascii
from typing import BinaryIO

from firmseal.formats.hexbulk import encode_records

RECORD_DATA_BYTES = 16
_SEGMENT = 0x10000
_EOF_RECORD = b":00000001FF\n"
# Text is joined and written in batches of about this size, which bounds the memory held.
_WRITE_BYTES = 256 * 1024


def _record(address: int, kind: int, data: bytes) -> bytes:
    low = address & 0xFFFF
    head = bytes((len(data), low >> 8, low & 0xFF, kind))
    checksum = -(sum(head) + sum(data)) & 0xFF
    return b":" + binascii.hexlify(head + data + bytes((checksum,))).upper() + b"\n"


class IntelHexWriter:
    """Write data at ascending addresses as Intel HEX records, then the EOF record.

    `max_address` is the highest address that will hold data. It decides whether extended
    linear address records are written at all. Writes must not go backwards or overlap.
    """

    def __init__(self, out: BinaryIO, max_address: int) -> None:
        if not 0 <= max_address <= 0xFFFFFFFF:
            raise ValueError(f"address 0x{max_address:x} does not fit in 32 bits")
        self._out = out
        self._max_address = max_address
        self._extended = max_address > 0xFFFF
        self._segment: int | None = None
        self._pending = bytearray()
        self._pending_address = 0
        self._next_address: int | None = None

    def write(self, address: int, data: bytes) -> None:
        if not data:
            return
        if self._next_address is not None and address < self._next_address:
            raise ValueError(f"Intel HEX data at 0x{address:x} goes backwards or overlaps")
        if address + len(data) - 1 > self._max_address:
            raise ValueError(f"Intel HEX data at 0x{address:x} ends above the maximum address")
        if self._pending and address != self._next_address:
            self._flush()
        if not self._pending:
            self._pending_address = address
        self._next_address = address + len(data)
        view = memoryview(data)
        taken = self._fill_pending(view)
        if self._pending:
            return  # `data` ended inside the pending record
        self._write_full_records(view[taken:])

    def close(self) -> None:
        """Write the last partial record and the end-of-file record."""
        self._flush()
        self._out.write(_EOF_RECORD)

    def _record_limit(self, address: int) -> int:
        return min(RECORD_DATA_BYTES, _SEGMENT - (address & 0xFFFF))

    def _fill_pending(self, view: memoryview) -> int:
        """Complete the pending record from `view` and return how many bytes it took."""
        if not self._pending:
            return 0
        limit = self._record_limit(self._pending_address)
        taken = min(limit - len(self._pending), len(view))
        self._pending += view[:taken]
        if len(self._pending) == limit:
            self._flush()
            self._pending_address += limit
        return taken

    def _write_full_records(self, view: memoryview) -> None:
        address = self._next_address_of(view)
        lines: list[bytes] = []
        buffered = 0
        offset = 0
        while len(view) - offset >= self._record_limit(address):
            limit = self._record_limit(address)
            # Runs of full records up to the next 64 KiB boundary are encoded in bulk.
            count = min(len(view) - offset, _SEGMENT - (address & 0xFFFF)) // RECORD_DATA_BYTES
            if limit == RECORD_DATA_BYTES and count > 1:
                size = count * RECORD_DATA_BYTES
                lines.append(self._segment_record(address))
                lines.append(encode_records(address & 0xFFFF, view[offset : offset + size]))
            else:
                size = limit
                lines.append(self._segment_record(address))
                lines.append(_record(address, 0, bytes(view[offset : offset + size])))
            offset += size
            address += size
            buffered += len(lines[-1])
            if buffered >= _WRITE_BYTES:
                self._out.write(b"".join(lines))
                lines.clear()
                buffered = 0
        self._out.write(b"".join(lines))
        self._pending = bytearray(view[offset:])
        self._pending_address = address

    def _next_address_of(self, view: memoryview) -> int:
        assert self._next_address is not None
        return self._next_address - len(view)

    def _segment_record(self, address: int) -> bytes:
        """Return the extended linear address record needed before `address`, or b""."""
        segment = address >> 16
        if not self._extended or segment == self._segment:
            return b""
        self._segment = segment
        return _record(0, 4, segment.to_bytes(2, "big"))

    def _flush(self) -> None:
        if self._pending:
            address = self._pending_address
            self._out.write(
                self._segment_record(address) + _record(address, 0, bytes(self._pending))
            )
            self._pending = bytearray()

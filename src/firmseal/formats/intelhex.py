"""Streaming Intel HEX decoding into the flat image it encodes.

The image runs from the lowest to the highest address any data record writes; gaps between
records read as the erased value (0xFF, as in erased NOR flash). Records may come in any
order but may not overlap. Decoding takes two passes over the text: the first checks every
record and finds the address range, the second writes the data at its offset. Memory grows
with the number of separate address ranges, not with the image size.
"""

from __future__ import annotations

import binascii
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from firmseal.errors import InvalidInputError
from firmseal.formats import hexbulk

ERASED_BYTE = 0xFF
CHUNK_BYTES = 1024 * 1024
# File name suffixes that mark Intel HEX input; firmseal decides by name, not by content,
# so a malformed HEX file is reported as malformed instead of being signed as raw bytes.
HEX_SUFFIXES = (".hex", ".ihex", ".ihx")
_DATA, _EOF, _EXT_SEGMENT, _START_SEGMENT, _EXT_LINEAR, _START_LINEAR = range(6)
_MAX_LINE = 1 + 2 * (1 + 2 + 1 + 255 + 1) + 2  # colon, fields in hex, CRLF
_BLOCK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class HexLayout:
    """The address range an Intel HEX file covers and the runs of data in it."""

    start: int
    end: int
    runs: tuple[tuple[int, int], ...]

    @property
    def size(self) -> int:
        return self.end - self.start


def looks_like_intel_hex(head: bytes) -> bool:
    """Return True when the first bytes of a file read like an Intel HEX record."""
    stripped = head.lstrip(b"\r\n\t ")
    return stripped[:1] == b":" and all(c in b"0123456789abcdefABCDEF" for c in stripped[1:9])


def _parse_line(line: bytes, raw_length: int, where: str) -> tuple[int, int, bytes]:
    """Check one record line; return (offset, record type, data)."""
    if raw_length > _MAX_LINE or line[:1] != b":" or len(line) % 2 == 0 or len(line) < 11:
        raise InvalidInputError(
            f"invalid Intel HEX in {where}: expected ':' and an even number of hex digits"
        )
    try:
        record = binascii.unhexlify(line[1:])
    except binascii.Error:
        raise InvalidInputError(f"invalid Intel HEX in {where}: non-hex character") from None
    length = record[0]
    if len(record) != length + 5:
        raise InvalidInputError(
            f"invalid Intel HEX in {where}: byte count {length} does not match "
            f"the {len(record) - 5} data bytes on the line"
        )
    if sum(record) & 0xFF:
        raise InvalidInputError(f"invalid Intel HEX in {where}: checksum mismatch")
    return int.from_bytes(record[1:3], "big"), record[3], record[4:-1]


class _RecordReader:
    """The state of one pass over the records: the current base address and the EOF flag."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.base = 0
        self.seen_eof = False

    def read_line(self, raw: bytes, number: int) -> tuple[int, bytes] | None:
        """Check one line, given without its line feed, and return (address, data) of data."""
        line = raw.strip()
        if not line:
            return None
        where = f"{self.name} line {number}"
        if self.seen_eof:
            raise InvalidInputError(f"invalid Intel HEX in {where}: data after the EOF record")
        offset, kind, data = _parse_line(line, len(raw) + 1, where)
        if kind == _DATA:
            return self.base + offset, data
        if kind == _EOF:
            self.seen_eof = True
        elif kind in (_EXT_SEGMENT, _EXT_LINEAR) and len(data) == 2:
            shift = 4 if kind == _EXT_SEGMENT else 16
            self.base = int.from_bytes(data, "big") << shift
        elif kind not in (_START_SEGMENT, _START_LINEAR) or len(data) != 4:
            raise InvalidInputError(
                f"invalid Intel HEX in {where}: record type {kind} with {len(data)} data bytes"
            )
        return None

    def read_run(self, lines: list[bytes], first_number: int) -> Iterator[tuple[int, bytes]]:
        """Check lines of one length: in bulk when they are 16-byte data records in sequence,
        otherwise one by one, which also names the line of the first error."""
        if not self.seen_eof and len(lines) > 1:
            decoded = hexbulk.decode_records(b"".join(lines), len(lines), len(lines[0]))
            if decoded is not None:
                low_address, data = decoded
                yield self.base + low_address, data
                return
        for number, raw in enumerate(lines, first_number):
            record = self.read_line(raw, number)
            if record is not None:
                yield record


def _line_blocks(stream: BinaryIO) -> Iterator[list[bytes]]:
    """Yield the file's lines, without line feeds, in blocks of about _BLOCK_BYTES."""
    while block := stream.read(_BLOCK_BYTES):
        if not block.endswith(b"\n"):
            block += stream.readline(_MAX_LINE + 1)
        lines = block.split(b"\n")
        if not lines[-1]:
            lines.pop()
        yield lines


def _records(stream: BinaryIO, name: str) -> Iterator[tuple[int, bytes]]:
    """Yield (absolute address, data) for every data record, checking every record."""
    reader = _RecordReader(name)
    number = 1
    for lines in _line_blocks(stream):
        start = 0
        for _, run in itertools.groupby(map(len, lines)):
            count = len(list(run))
            yield from reader.read_run(lines[start : start + count], number + start)
            start += count
        number += len(lines)
    if not reader.seen_eof:
        raise InvalidInputError(f"invalid Intel HEX in {name}: missing EOF record (:00000001FF)")


def scan(stream: BinaryIO, name: str, max_size: int) -> HexLayout:
    """First pass: check every record and return the address range and the data runs."""
    runs: list[list[int]] = []
    for address, data in _records(stream, name):
        if not data:
            continue
        if runs and runs[-1][1] == address:
            runs[-1][1] += len(data)
        else:
            runs.append([address, address + len(data)])
    if not runs:
        raise InvalidInputError(f"invalid Intel HEX in {name}: no data records")
    runs.sort()
    for previous, current in itertools.pairwise(runs):
        if current[0] < previous[1]:
            raise InvalidInputError(
                f"invalid Intel HEX in {name}: data at 0x{current[0]:08x} overlaps data "
                f"written up to 0x{previous[1]:08x}"
            )
    runs_found = tuple((start, end) for start, end in runs)
    layout = HexLayout(runs[0][0], max(end for _, end in runs_found), runs_found)
    if layout.size > max_size:
        raise InvalidInputError(
            f"Intel HEX {name} spans {layout.size} bytes (0x{layout.start:08x} to "
            f"0x{layout.end:08x}), over the limit of {max_size} bytes"
        )
    return layout


def decode(stream: BinaryIO, name: str, layout: HexLayout, out: BinaryIO) -> None:
    """Second pass: write the flat image of `layout` to `out`, gaps filled with 0xFF."""
    filler = bytes([ERASED_BYTE]) * 65536
    position = layout.start
    for start, end in layout.runs:
        _fill(out, position - layout.start, start - position, filler)
        position = end
    out.truncate(layout.size)
    for address, data in _records(stream, name):
        out.seek(address - layout.start)
        out.write(data)


class _OutOfOrderError(Exception):
    """A record starts below the end of the data already written."""


def decode_flat(
    stream: BinaryIO, name: str, max_size: int, out: BinaryIO, reopen: Callable[[], BinaryIO]
) -> HexLayout:
    """Decode Intel HEX to the flat image in `out`, in one pass when records are in order.

    Tools such as objcopy write records in address order, so the image can be written as
    the records arrive. A record below the end of the data already written makes this fall
    back to the two passes of `scan` and `decode` over `reopen()`, after reading `stream`
    to its end, so that a tee into the object store then contains the whole source.
    """
    try:
        return _decode_in_order(stream, name, max_size, out)
    except _OutOfOrderError:
        while stream.read(CHUNK_BYTES):
            pass
    with reopen() as again:
        layout = scan(again, name, max_size)
    out.seek(0)
    out.truncate(0)
    with reopen() as again:
        decode(again, name, layout, out)
    return layout


def _decode_in_order(stream: BinaryIO, name: str, max_size: int, out: BinaryIO) -> HexLayout:
    filler = bytes([ERASED_BYTE]) * 65536
    runs: list[tuple[int, int]] = []
    start = end = -1
    for address, data in _records(stream, name):
        if not data:
            continue
        if start < 0:
            start = end = address
        if address < end:
            raise _OutOfOrderError
        if address + len(data) - start > max_size:
            raise InvalidInputError(
                f"Intel HEX {name} spans more than {max_size} bytes (data at "
                f"0x{address:08x}, first data at 0x{start:08x}), over the limit"
            )
        if address > end:
            _fill(out, end - start, address - end, filler)
            runs.append((address, address))
        elif not runs:
            runs.append((address, address))
        out.write(data)
        end = address + len(data)
        runs[-1] = (runs[-1][0], end)
    if start < 0:
        raise InvalidInputError(f"invalid Intel HEX in {name}: no data records")
    return HexLayout(start, end, tuple(runs))


def _fill(out: BinaryIO, offset: int, count: int, filler: bytes) -> None:
    out.seek(offset)
    while count > 0:
        step = min(count, len(filler))
        out.write(filler[:step])
        count -= step

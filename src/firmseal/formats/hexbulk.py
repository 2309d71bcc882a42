"""Bulk encoding and decoding of runs of full 16-byte Intel HEX data records.

Most of an Intel HEX file is lines of exactly 16 data bytes at consecutive addresses.
Handling those one record at a time costs about a microsecond each in Python. This
module handles a whole run at C speed. It moves each column of the records (the length
byte, the address bytes, data byte j, the checksum) with one strided slice copy. It sums
every record's bytes at once by adding the columns as big integers with one 16-bit lane
per record. No lane overflows, because a record of 21 bytes sums to at most 5355.
"""

from __future__ import annotations

import binascii
import functools

DATA_BYTES = 16
RECORD_BYTES = DATA_BYTES + 5  # length, address (2), type, data, checksum
LINE_DIGITS = 2 * RECORD_BYTES
RECORDS_PER_SEGMENT = 0x10000 // DATA_BYTES


def record_sums(records: bytes | bytearray, count: int) -> bytes:
    """Return, for each of `count` records of RECORD_BYTES, the sum of its bytes mod 256."""
    total = 0
    lanes = bytearray(2 * count)
    for column in range(RECORD_BYTES):
        lanes[0::2] = records[column::RECORD_BYTES]
        total += int.from_bytes(lanes, "little")
    return total.to_bytes(2 * count, "little")[0::2]


@functools.cache
def _address_columns(phase: int) -> tuple[bytes, bytes]:
    """Return the high and low bytes of `phase + 16 * k` for every record k of a segment."""
    addresses = [phase + DATA_BYTES * k for k in range(RECORDS_PER_SEGMENT)]
    return bytes((a >> 8) & 0xFF for a in addresses), bytes(a & 0xFF for a in addresses)


def address_columns(low_address: int, count: int) -> tuple[bytes, bytes]:
    """Return the address bytes of `count` consecutive records from `low_address`."""
    high, low = _address_columns(low_address % DATA_BYTES)
    first = low_address // DATA_BYTES
    return high[first : first + count], low[first : first + count]


_NEGATE = bytes((-value) & 0xFF for value in range(256))


def encode_records(low_address: int, data: bytes | memoryview) -> bytes:
    """Return the text lines of consecutive 16-byte data records, each ending in LF.

    `data` is a whole number of records that must not cross a 64 KiB boundary.
    """
    count = len(data) // DATA_BYTES
    records = bytearray(count * RECORD_BYTES)
    records[0::RECORD_BYTES] = bytes([DATA_BYTES]) * count
    records[1::RECORD_BYTES], records[2::RECORD_BYTES] = address_columns(low_address, count)
    for column in range(DATA_BYTES):
        records[4 + column :: RECORD_BYTES] = data[column::DATA_BYTES]
    records[RECORD_BYTES - 1 :: RECORD_BYTES] = record_sums(records, count).translate(_NEGATE)
    digits = binascii.hexlify(records).upper()
    line = LINE_DIGITS + 2
    text = bytearray(count * line)
    text[0::line] = b":" * count
    for column in range(LINE_DIGITS):
        text[1 + column :: line] = digits[column::LINE_DIGITS]
    text[line - 1 :: line] = b"\n" * count
    return bytes(text)


def decode_records(lines: bytes, count: int, line_length: int) -> tuple[int, bytes] | None:
    """Decode `count` lines of `line_length` bytes (":", 42 hex digits, optional CR).

    Returns (low address of the first record, data) when every line is a valid 16-byte
    data record and the records are consecutive. Returns None otherwise, and the caller
    parses the lines one by one to report the exact error.
    """
    if line_length not in (LINE_DIGITS + 1, LINE_DIGITS + 2):
        return None
    if lines[0::line_length] != b":" * count:
        return None
    if line_length == LINE_DIGITS + 2 and lines[line_length - 1 :: line_length] != b"\r" * count:
        return None
    digits = bytearray(count * LINE_DIGITS)
    for column in range(LINE_DIGITS):
        digits[column::LINE_DIGITS] = lines[1 + column :: line_length]
    try:
        records = binascii.unhexlify(digits)
    except binascii.Error:
        return None
    return _check_records(records, count)


def _check_records(records: bytes, count: int) -> tuple[int, bytes] | None:
    if records[0::RECORD_BYTES] != bytes([DATA_BYTES]) * count:
        return None
    if records[3::RECORD_BYTES] != bytes(count):
        return None
    if record_sums(records, count) != bytes(count):
        return None
    low_address = (records[1] << 8) | records[2]
    if low_address + DATA_BYTES * count > 0x10000:
        return None
    expected = address_columns(low_address, count)
    if (records[1::RECORD_BYTES], records[2::RECORD_BYTES]) != expected:
        return None
    data = bytearray(count * DATA_BYTES)
    for column in range(DATA_BYTES):
        data[column::DATA_BYTES] = records[4 + column :: RECORD_BYTES]
    return low_address, bytes(data)

"""Bulk Intel HEX decoding: same result as record by record, same errors and line numbers."""

from __future__ import annotations

import io
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from intelhex import IntelHex

from firmseal.errors import InvalidInputError
from firmseal.formats import hexbulk, intelhex


def hex_text(data: bytes, offset: int) -> bytes:
    ih = IntelHex()
    ih.frombytes(data, offset=offset)
    text = io.StringIO()
    ih.write_hex_file(text)
    return text.getvalue().encode()


def decode(text: bytes) -> tuple[int, bytes]:
    layout = intelhex.scan(io.BytesIO(text), "app.hex", 1 << 30)
    out = io.BytesIO()
    intelhex.decode(io.BytesIO(text), "app.hex", layout, out)
    return layout.start, out.getvalue()


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=3000), st.sampled_from([0, 8, 0xFFF0, 0x0800_0000]))
def test_bulk_decoding_matches_input(data: bytes, offset: int) -> None:
    assert decode(hex_text(data, offset)) == (offset, data)


def test_crlf_lines_decode() -> None:
    data = os.urandom(5000)
    assert decode(hex_text(data, 0x1000).replace(b"\n", b"\r\n")) == (0x1000, data)


@pytest.mark.parametrize(
    ("column", "needle"),
    [(10, "checksum mismatch"), (0, "expected ':'"), (12, "non-hex character")],
)
def test_error_inside_bulk_run_names_line(column: int, needle: str) -> None:
    lines = hex_text(random.Random(column).randbytes(16 * 50), 0).split(b"\n")
    line = bytearray(lines[30])
    if needle == "checksum mismatch":
        # Another valid hex digit, so only the checksum can catch the change.
        line[column] = ord("1") if line[column] == ord("0") else ord("0")
    elif needle == "non-hex character":
        line[column] = ord("Z")
    else:
        line[0] = ord(";")
    lines[30] = bytes(line)
    with pytest.raises(InvalidInputError, match=f"line 31: .*{needle}"):
        decode(b"\n".join(lines))


def test_out_of_order_records_still_decode() -> None:
    data = os.urandom(16 * 4)
    lines = hex_text(data, 0).split(b"\n")
    swapped = [lines[1], lines[0], *lines[2:]]
    assert decode(b"\n".join(swapped)) == (0, data)


def test_record_sums_per_record() -> None:
    records = bytes(range(hexbulk.RECORD_BYTES)) + bytes([255] * hexbulk.RECORD_BYTES)
    sums = hexbulk.record_sums(records, 2)
    assert sums == bytes([sum(range(21)) % 256, (255 * 21) % 256])

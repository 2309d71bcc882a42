"""The streaming Intel HEX writer writes the same records as the intelhex package."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from intelhex import IntelHex

from firmseal.formats.intelhex_writer import IntelHexWriter

Segment = tuple[int, bytes]


def reference(segments: list[Segment]) -> str:
    ih = IntelHex()
    for address, data in segments:
        ih.puts(address, data)
    text = io.StringIO()
    ih.write_hex_file(text)
    return text.getvalue()


def written(segments: list[Segment], piece: int) -> str:
    out = io.BytesIO()
    last_address, last_data = segments[-1]
    writer = IntelHexWriter(out, last_address + len(last_data) - 1)
    for address, data in segments:
        for offset in range(0, len(data), piece):
            writer.write(address + offset, data[offset : offset + piece])
    writer.close()
    return out.getvalue().decode()


@st.composite
def segments(draw: st.DrawFn) -> list[Segment]:
    address = draw(st.sampled_from([0, 0x7, 0xFFF0, 0x1FFF9, 0x0800_0000, 0xFFFF_0000]))
    result = []
    for _ in range(draw(st.integers(1, 4))):
        data = draw(st.binary(min_size=1, max_size=300))
        result.append((address, data))
        address += len(data) + draw(st.sampled_from([0, 1, 5, 0x10000]))
    if address > 0x1_0000_0000:
        result = result[:1]
    return result


@settings(max_examples=300, deadline=None)
@given(segments(), st.integers(1, 40))
def test_matches_intelhex_package(parts: list[Segment], piece: int) -> None:
    assert written(parts, piece) == reference(parts)


def test_crosses_64k_boundary_with_extended_address() -> None:
    parts = [(0xFFF8, bytes(range(16)))]
    text = written(parts, 16)
    assert text.splitlines() == [
        ":020000040000FA",
        ":08FFF8000001020304050607E5",
        ":020000040001F9",
        ":0800000008090A0B0C0D0E0F9C",
        ":00000001FF",
    ]
    assert text == reference(parts)


def test_rejects_backwards_write() -> None:
    writer = IntelHexWriter(io.BytesIO(), 0x100)
    writer.write(0x10, b"ab")
    with pytest.raises(ValueError, match="backwards"):
        writer.write(0x10, b"c")


def test_rejects_data_above_maximum() -> None:
    writer = IntelHexWriter(io.BytesIO(), 0x10)
    with pytest.raises(ValueError, match="maximum address"):
        writer.write(0x10, b"ab")

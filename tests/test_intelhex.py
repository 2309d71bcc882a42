"""Intel HEX decoding: a known vector, every malformed record, and fuzzing."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmseal.errors import InvalidInputError
from firmseal.formats import intelhex


def record(kind: int, address: int, data: bytes) -> str:
    body = bytes([len(data), address >> 8, address & 0xFF, kind]) + data
    return ":" + (body + bytes([(-sum(body)) & 0xFF])).hex().upper()


def decode(text: str, max_size: int = 1 << 20) -> bytes:
    raw = text.encode()
    layout = intelhex.scan(io.BytesIO(raw), "t.hex", max_size)
    out = io.BytesIO()
    intelhex.decode(io.BytesIO(raw), "t.hex", layout, out)
    return out.getvalue()


def test_known_vector_with_gap_and_linear_base() -> None:
    # Two runs at 0x08000000 and 0x08000010 with a 12-byte gap, written out of order.
    text = "\n".join(
        [
            record(4, 0, b"\x08\x00"),
            record(0, 0x0010, b"\xaa\xbb"),
            record(0, 0x0000, b"\x01\x02\x03\x04"),
            record(5, 0, b"\x08\x00\x00\x00"),
            ":00000001FF",
        ]
    )
    layout = intelhex.scan(io.BytesIO(text.encode()), "t.hex", 1 << 20)
    assert (layout.start, layout.end) == (0x08000000, 0x08000012)
    assert decode(text) == b"\x01\x02\x03\x04" + b"\xff" * 12 + b"\xaa\xbb"


def test_matches_objcopy(tmp_path: Path) -> None:
    image = bytes((i * 7 + 3) & 0xFF for i in range(70000))
    (tmp_path / "in.bin").write_bytes(image)
    subprocess.run(
        [
            "objcopy",
            "-I",
            "binary",
            "-O",
            "ihex",
            "--change-addresses",
            "0x10000",
            str(tmp_path / "in.bin"),
            str(tmp_path / "in.hex"),
        ],
        check=True,
    )
    text = (tmp_path / "in.hex").read_text()
    assert decode(text) == image
    layout = intelhex.scan(io.BytesIO(text.encode()), "in.hex", 1 << 20)
    assert layout.start == 0x10000


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (record(0, 0, b"\x01") + "\n", "missing EOF record"),
        (":0400000001020304F1\n:00000001FF", "checksum mismatch"),
        (":0500000001020304F1\n:00000001FF", "byte count 5 does not match"),
        (":0100000G01FE\n:00000001FF", "non-hex character"),
        ("0100000001FE\n:00000001FF", "expected ':'"),
        (":00000001FF\n" + record(0, 0, b"\x01"), "data after the EOF record"),
        (record(0, 0, b"\x01\x02") + "\n" + record(0, 1, b"\x03") + "\n:00000001FF", "overlaps"),
        (record(6, 0, b"") + "\n:00000001FF", "record type 6"),
        (record(4, 0, b"\x01") + "\n:00000001FF", "record type 4 with 1 data bytes"),
        (":00000001FF", "no data records"),
        (":" + "0" * 600 + "\n:00000001FF", "expected ':'"),
    ],
)
def test_malformed(text: str, needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        decode(text)


def test_span_over_limit_rejected_before_writing() -> None:
    text = "\n".join(
        [record(0, 0, b"\x01"), record(4, 0, b"\x10\x00"), record(0, 0, b"\x02"), ":00000001FF"]
    )
    with pytest.raises(InvalidInputError, match="spans 268435457 bytes"):
        decode(text, max_size=16 << 20)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(0, 1000), st.binary(min_size=1, max_size=32), max_size=20))
def test_round_trip(chunks: dict[int, bytes]) -> None:
    # Place chunks at multiples of 64 so they never overlap, then compare with a flat model.
    placed = {address * 64: data for address, data in chunks.items()}
    lines = [record(4, 0, b"\x00\x01")]
    lines += [record(0, address & 0xFFFF, data) for address, data in placed.items()]
    lines.append(":00000001FF")
    text = "\n".join(lines)
    if not placed:
        with pytest.raises(InvalidInputError):
            decode(text)
        return
    start = min(placed)
    end = max(address + len(data) for address, data in placed.items())
    model = bytearray(b"\xff" * (end - start))
    for address, data in placed.items():
        model[address - start : address - start + len(data)] = data
    assert decode(text) == bytes(model)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_only_invalid_input_errors(data: bytes) -> None:
    try:
        layout = intelhex.scan(io.BytesIO(data), "fuzz.hex", 1 << 16)
        intelhex.decode(io.BytesIO(data), "fuzz.hex", layout, io.BytesIO())
    except InvalidInputError:
        pass


def decode_one_pass(text: str, max_size: int = 1 << 20) -> tuple[bytes, intelhex.HexLayout]:
    raw = text.encode()
    out = io.BytesIO()
    layout = intelhex.decode_flat(io.BytesIO(raw), "t.hex", max_size, out, lambda: io.BytesIO(raw))
    return out.getvalue(), layout


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.integers(0, 1000), st.binary(min_size=1, max_size=32), min_size=1, max_size=20
    ),
    st.randoms(use_true_random=False),
)
def test_decode_flat_matches_two_passes(chunks: dict[int, bytes], order) -> None:
    # In order, the single pass must give what scan plus decode give; shuffled, the
    # fallback must give the same bytes too.
    placed = sorted((address * 64, data) for address, data in chunks.items())
    for records in (placed, order.sample(placed, len(placed))):
        lines = [record(4, 0, b"\x00\x01")]
        lines += [record(0, address & 0xFFFF, data) for address, data in records]
        lines.append(":00000001FF")
        text = "\n".join(lines)
        flat, layout = decode_one_pass(text)
        assert flat == decode(text)
        assert layout == intelhex.scan(io.BytesIO(text.encode()), "t.hex", 1 << 20)


def test_decode_flat_rejects_span_while_reading() -> None:
    text = "\n".join(
        [record(0, 0, b"\x01"), record(4, 0, b"\x10\x00"), record(0, 0, b"\x02"), ":00000001FF"]
    )
    with pytest.raises(InvalidInputError, match="spans more than 16777216 bytes"):
        decode_one_pass(text, max_size=16 << 20)


def test_decode_flat_overlap_found_by_fallback() -> None:
    text = "\n".join([record(0, 0, b"\x01\x02"), record(0, 1, b"\x03"), ":00000001FF"])
    with pytest.raises(InvalidInputError, match="overlaps"):
        decode_one_pass(text)

"""Signing streams: peak memory does not grow with the image size, in binary or Intel HEX."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest

from firmseal.formats.base import ImageInput
from firmseal.kms import software
from firmseal.kms.base import KeySpec
from mcuboot_support import binary_input, sign_with_firmseal

MIB = 1024 * 1024
KEY = software.generate_private_key(KeySpec.ECC_NIST_P256)


def peak_while_signing(image: ImageInput, out_dir: Path) -> int:
    params = {"version": "1.0.0", "pad-header": "true", "slot-size": str(64 * MIB), "pad": "true"}
    tracemalloc.start()
    try:
        sign_with_firmseal("MCUboot-ECDSA-P256", KEY, image, params, out_dir)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def flat_file(folder: Path, size: int) -> Path:
    path = folder / f"app-{size}.bin"
    with path.open("wb") as out:
        for _ in range(size // MIB):
            out.write(os.urandom(MIB))
    return path


@pytest.mark.parametrize("source_format", ["bin", "hex"])
def test_peak_memory_flat_in_image_size(source_format: str, tmp_path: Path) -> None:
    peaks = []
    for size in (1 * MIB, 8 * MIB):
        path = flat_file(tmp_path, size)
        image = binary_input(path)
        image.source_format = source_format
        image.base_address = 0x0800_0000
        peaks.append(peak_while_signing(image, tmp_path / f"out-{size}"))
    small, large = peaks
    # One 1 MiB read buffer and a batch of HEX lines dominate; neither grows with size.
    assert large < 4 * MIB
    assert large < small + MIB


class ShortReads(io.RawIOBase):
    """A stream that returns at most 7 bytes a read, like a pipe under load."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._file.read(min(7, len(buffer)))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def test_short_reads_give_same_image(tmp_path: Path) -> None:
    key = software.generate_private_key(KeySpec.ED25519)
    source = tmp_path / "app.bin"
    source.write_bytes(bytes(64) + os.urandom(5000))
    params = {"version": "1.0.0", "header-size": "64"}
    whole = sign_with_firmseal(
        "MCUboot-Ed25519", key, binary_input(source), params, tmp_path / "a"
    )
    image = ImageInput(
        source.name,
        source.stat().st_size,
        cast(BinaryIO, ShortReads(source)),
        lambda: cast(BinaryIO, ShortReads(source)),
    )
    short = sign_with_firmseal("MCUboot-Ed25519", key, image, params, tmp_path / "b")
    assert short.files[0].read_bytes() == whole.files[0].read_bytes()

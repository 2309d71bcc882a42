"""Signing streams: peak memory does not grow with the image size, in binary or Intel HEX."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

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

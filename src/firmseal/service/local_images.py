"""Open a local firmware file as an `ImageInput`, decoding Intel HEX to a temporary file.

Used by commands that read an image without storing it as a signing job's source:
external signing and verification.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from firmseal.errors import InvalidInputError
from firmseal.formats import intelhex
from firmseal.formats.base import ImageInput


def open_file(path: Path, role: str = "image") -> BinaryIO:
    """Open a regular file for reading; `role` names it in errors ("image", "source")."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InvalidInputError(f"{role} file {path} not found") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {role} file {path}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise InvalidInputError(f"{role} {path} is a directory; expected a file")
    if not stat.S_ISREG(mode):
        # Devices and FIFOs have no size to check against a limit, and a FIFO without a
        # writer would block forever.
        raise InvalidInputError(f"{role} {path} is not a regular file; expected a firmware image")
    try:
        return path.open("rb")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {role} file {path}: {exc.strerror}") from None


def is_intel_hex(path: Path) -> bool:
    """Return True for a file named like Intel HEX; its records are checked when decoded."""
    return path.suffix.lower() in intelhex.HEX_SUFFIXES


@contextlib.contextmanager
def open_image_input(path: Path, max_size: int) -> Iterator[ImageInput]:
    """Yield `path` as an image to sign or verify; HEX is decoded to a temporary flat file."""
    with open_file(path) as stream:
        if not is_intel_hex(path):
            size = os.fstat(stream.fileno()).st_size
            if size > max_size:
                raise InvalidInputError(
                    f"{path} is {size} bytes, over the limit of {max_size} bytes"
                )
            yield ImageInput(path.name, size, stream, lambda: path.open("rb"))
            return
        with tempfile.TemporaryDirectory(prefix="firmseal-hex-") as folder:
            flat = Path(folder) / "image.bin"
            with flat.open("wb") as out:
                layout = intelhex.decode_flat(
                    stream, str(path), max_size, out, lambda: path.open("rb")
                )
            with flat.open("rb") as first_pass:
                yield ImageInput(
                    path.name,
                    layout.size,
                    first_pass,
                    lambda: flat.open("rb"),
                    source_format="hex",
                    base_address=layout.start,
                )

"""Open a local firmware file as an `ImageInput`, decoding Intel HEX to a temporary file.

Used by commands that read an image without storing it as a signing job's source:
external signing and verification.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from firmseal.errors import InvalidInputError
from firmseal.formats import intelhex
from firmseal.formats.base import ImageInput

HEX_SUFFIXES = (".hex", ".ihex", ".ihx")


def open_file(path: Path, role: str = "image") -> BinaryIO:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise InvalidInputError(f"{role} file {path} not found") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{role} {path} is a directory; expected a file") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {role} file {path}: {exc.strerror}") from None


def is_intel_hex(path: Path, stream: BinaryIO) -> bool:
    """Return True for a file named like Intel HEX whose first bytes read like a record."""
    head = stream.read(64)
    stream.seek(0)
    return path.suffix.lower() in HEX_SUFFIXES and intelhex.looks_like_intel_hex(head)


@contextlib.contextmanager
def open_image_input(path: Path, max_size: int) -> Iterator[ImageInput]:
    """Yield `path` as an image to sign or verify; HEX is decoded to a temporary flat file."""
    with open_file(path) as stream:
        if not is_intel_hex(path, stream):
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

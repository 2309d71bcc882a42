"""The inputs and outputs of a format that signs one image."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from firmseal.kms.base import Signer

CHUNK_SIZE = 1024 * 1024

ProgressCallback = Callable[[int], None]


def _no_progress(_: int) -> None:
    return None


@dataclass
class ImageInput:
    """The image to sign, as a stream read once, and a way to read it again.

    `first_pass` may copy what is read into the object store as it goes, so a format must read
    it to the end exactly once. `reopen` gives an independent stream of the same bytes for
    formats that need a second pass (for example to embed the payload after the signature).
    """

    name: str
    size: int
    first_pass: BinaryIO
    reopen: Callable[[], BinaryIO]
    source_format: str = "bin"
    base_address: int = 0


@dataclass
class SignContext:
    """The output folder, signing parameters and job id of one signing job."""

    out_dir: Path
    params: Mapping[str, str]
    job_id: str
    progress: ProgressCallback = _no_progress


@dataclass
class SignResult:
    """A format's output: the digest it signed, the signature and the files written."""

    digest: bytes
    signature: bytes
    image_size: int
    files: list[Path] = field(default_factory=list)


class ImageFormat(Protocol):
    def sign(self, image: ImageInput, signer: Signer, context: SignContext) -> SignResult: ...


def hash_stream(
    stream: BinaryIO, algorithm: str, progress: ProgressCallback = _no_progress
) -> tuple[bytes, int]:
    """Hash a stream to its end in fixed-size chunks; return the digest and the byte count."""
    hasher = hashlib.new(algorithm)
    total = 0
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    while count := stream.readinto(view):  # type: ignore[attr-defined]
        hasher.update(view[:count])
        total += count
        progress(count)
    return hasher.digest(), total

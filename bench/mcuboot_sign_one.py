"""Sign one image with firmseal's MCUboot format and a PEM key, as `imgtool sign` does.

The benchmark runs this as a child process to time the signing engine without the CLI's
workspace, database and object store. It loads a private key from a PEM file that the
benchmark generated for this run; the firmseal product itself never reads or writes one.

Usage: python bench/mcuboot_sign_one.py KEY.pem INPUT OUT_DIR KEY=VALUE...
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from firmseal.device.mcuboot_layout import McubootAlgorithm
from firmseal.formats.base import SignContext
from firmseal.formats.mcuboot import SCHEMES, McubootFormat
from firmseal.kms import software
from firmseal.kms.base import SignatureScheme
from firmseal.service.local_images import open_image_input


@dataclass(frozen=True)
class PemSigner:
    key: software.SigningKey
    scheme: SignatureScheme

    def public_key_der(self) -> bytes:
        return software.public_key_der(self.key)

    def sign_digest(self, digest: bytes) -> bytes:
        return software.sign_digest(self.key, digest, self.scheme)


def main() -> None:
    key_path, source, out_dir, *pairs = sys.argv[1:]
    key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    assert isinstance(key, software.SigningKey)
    algorithm = McubootAlgorithm.ECDSA_P256
    params = dict(pair.split("=", 1) for pair in pairs)
    with open_image_input(Path(source), 1 << 32) as image:
        context = SignContext(Path(out_dir), params, "bench")
        McubootFormat(algorithm).sign(image, PemSigner(key, SCHEMES[algorithm]), context)


if __name__ == "__main__":
    main()

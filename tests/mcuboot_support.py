"""Shared helpers for the MCUboot tests: keys, signers, image inputs and imgtool runs."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from firmseal.device.mcuboot_layout import (
    TLV_INFO_SIZE,
    Tlv,
    iter_tlvs_unverified,
    parse_header_unverified,
)
from firmseal.formats import FORMATS, intelhex
from firmseal.formats.base import ImageInput, SignContext, SignResult
from firmseal.formats.platforms import MCUBOOT_PLATFORMS, SigningPlatform
from firmseal.kms import software
from firmseal.kms.base import SignatureScheme

PLATFORM_IDS = [platform.platform_id for platform in MCUBOOT_PLATFORMS]
IMGTOOL = str(Path(sys.executable).with_name("imgtool"))
REPO = Path(__file__).resolve().parent.parent
ASSET_FIRMWARE = REPO / "assets" / "firmware" / "ath9k_htc" / "htc_9271-1.4.0.fw"

# How each firmseal signing parameter is spelled on imgtool's command line; flags take no value.
_IMGTOOL_OPTIONS = {
    "version": "--version",
    "header-size": "--header-size",
    "slot-size": "--slot-size",
    "align": "--align",
    "max-align": "--max-align",
    "max-sectors": "--max-sectors",
    "security-counter": "--security-counter",
    "dependencies": "--dependencies",
    "load-addr": "--load-addr",
    "erased-val": "--erased-val",
    "public-key-format": "--public-key-format",
    "endian": "--endian",
    "boot-record": "--boot-record",
    "vid": "--vid",
    "cid": "--cid",
}
_IMGTOOL_FLAGS = {"pad-header": "--pad-header", "pad": "--pad", "confirm": "--confirm"}


@dataclass(frozen=True)
class InProcessSigner:
    """A Signer over an in-process key, so imgtool can be handed the same key as PEM."""

    key: software.SigningKey
    scheme: SignatureScheme

    def public_key_der(self) -> bytes:
        return software.public_key_der(self.key)

    def sign_digest(self, digest: bytes) -> bytes:
        return software.sign_digest(self.key, digest, self.scheme)


def platform(platform_id: str) -> SigningPlatform:
    return next(p for p in MCUBOOT_PLATFORMS if p.platform_id == platform_id)


def new_key(platform_id: str) -> software.SigningKey:
    return software.generate_private_key(next(iter(platform(platform_id).key_specs)))


def write_pem(key: software.SigningKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def write_public_pem(key: software.SigningKey, path: Path) -> Path:
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def binary_input(path: Path) -> ImageInput:
    return ImageInput(path.name, path.stat().st_size, path.open("rb"), lambda: path.open("rb"))


def hex_input(path: Path, flat_dir: Path) -> ImageInput:
    """Decode an Intel HEX file to a flat file, as the signing service does."""
    with path.open("rb") as text:
        layout = intelhex.scan(text, path.name, 1 << 30)
    flat = flat_dir / f"{path.name}.flat"
    with path.open("rb") as text, flat.open("wb") as out:
        intelhex.decode(text, path.name, layout, out)
    return ImageInput(
        path.name,
        layout.size,
        flat.open("rb"),
        lambda: flat.open("rb"),
        source_format="hex",
        base_address=layout.start,
    )


def sign_with_firmseal(
    platform_id: str,
    key: software.SigningKey,
    image: ImageInput,
    params: Mapping[str, str],
    out_dir: Path,
) -> SignResult:
    chosen = platform(platform_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    signer = InProcessSigner(key, chosen.scheme)
    try:
        return FORMATS[chosen.format_name].sign(image, signer, SignContext(out_dir, params, "t"))
    finally:
        image.first_pass.close()


def imgtool_sign_args(params: Mapping[str, str]) -> list[str]:
    args: list[str] = []
    for name, value in params.items():
        if name in _IMGTOOL_FLAGS:
            if value == "true":
                args.append(_IMGTOOL_FLAGS[name])
        elif name == "custom-tlv":
            for item in value.split(","):
                tag, _, text = item.partition(":")
                args += ["--custom-tlv", tag, text]
        else:
            args += [_IMGTOOL_OPTIONS[name], value]
    if "slot-size" not in params:
        args += ["--slot-size", "0"]
    if "header-size" not in params:
        args += ["--header-size", "32"]
    return args


def run_imgtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([IMGTOOL, *args], capture_output=True, text=True, check=False)


def imgtool_sign(
    pem: Path, source: Path, target: Path, params: Mapping[str, str], *extra: str
) -> None:
    result = run_imgtool(
        "sign", "--key", str(pem), *imgtool_sign_args(params), *extra, str(source), str(target)
    )
    assert result.returncode == 0, result.stderr


def imgtool_verify(pem: Path, image: Path) -> subprocess.CompletedProcess[str]:
    return run_imgtool("verify", "--key", str(pem), str(image))


def flat_bytes(path: Path) -> bytes:
    """Return a signed image's bytes, decoding Intel HEX the way a flash programmer would."""
    if path.suffix != ".hex":
        return path.read_bytes()
    flat = path.with_name(path.name + ".flat")
    with path.open("rb") as text:
        layout = intelhex.scan(text, path.name, 1 << 30)
    with path.open("rb") as text, flat.open("wb") as out:
        intelhex.decode(text, path.name, layout, out)
    return flat.read_bytes()


@dataclass(frozen=True)
class SplitImage:
    """A signed image cut into the part that must match imgtool's and the signature."""

    before_unprotected: bytes
    unprotected_magic: int
    unsigned_tlvs: list[tuple[int, bytes]]
    signature_type: int
    signature: bytes
    after: bytes


def split_signed(data: bytes, endian: str = "little") -> SplitImage:
    """Cut an image at the unprotected TLV area, whose size depends on the signature length."""
    header = parse_header_unverified(data, endian, "image")  # type: ignore[arg-type]
    start = header.header_size + header.image_size + header.protected_tlv_size
    prefix = "<" if endian == "little" else ">"
    magic, total = struct.unpack(prefix + "HH", data[start : start + TLV_INFO_SIZE])
    area = data[start + TLV_INFO_SIZE : start + total]
    tlvs = list(iter_tlvs_unverified(area, endian, "image"))  # type: ignore[arg-type]
    signature_type, signature = tlvs[-1]
    return SplitImage(
        data[:start], magic, tlvs[:-1], signature_type, signature, data[start + total :]
    )


def signature_tlv_types() -> set[int]:
    return {Tlv.ECDSA_SIG, Tlv.ED25519, Tlv.RSA2048_PSS, Tlv.RSA3072_PSS}


def have_imgtool() -> bool:
    return shutil.which(IMGTOOL) is not None

"""`firmseal verify` for MCUboot images: the checks the bootloader makes before it boots one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from firmseal.cli.output import emit
from firmseal.device.mcuboot import VerifiedMcubootImage, verify_mcuboot_image
from firmseal.device.mcuboot_layout import IMAGE_MAGIC, Endian
from firmseal.formats.platforms import MCUBOOT_MAX_SIZE_IN_MB, MIB
from firmseal.service.local_images import open_image_input


def based_int(minimum: int, maximum: int) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """Return a click callback that parses decimal or 0x/0o/0b integers in [minimum, maximum]."""

    def parse(context: click.Context, parameter: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        try:
            number = int(str(value), 0)
        except ValueError:
            raise click.BadParameter(
                f"{value!r} is not an integer; use decimal or a 0x prefix"
            ) from None
        if not minimum <= number <= maximum:
            raise click.BadParameter(f"{value!r} is not from {minimum} to {maximum}")
        return number

    return parse


def _endian(head: bytes) -> Endian | None:
    if len(head) < 4:
        return None
    if int.from_bytes(head[:4], "little") == IMAGE_MAGIC:
        return "little"
    if int.from_bytes(head[:4], "big") == IMAGE_MAGIC:
        return "big"
    return None


def _limit(slot_size: int | None) -> int:
    return max(slot_size or 0, MCUBOOT_MAX_SIZE_IN_MB * MIB)


def verify_mcuboot_file(
    file: Path,
    public_key: PublicKeyTypes,
    *,
    slot_size: int | None,
    header_size: int | None,
    security_counter: int | None,
) -> VerifiedMcubootImage:
    """Verify an MCUboot image file (binary or Intel HEX) against one trusted key.

    The byte order comes from the magic. Raises click.UsageError when FILE is not an
    MCUboot image, because then the caller forgot --signature or --signed-object.
    """
    with open_image_input(file, _limit(slot_size)) as image:
        endian = _endian(image.first_pass.read(4))
        if endian is None:
            raise click.UsageError(
                f"give exactly one of --signature SIG or --signed-object JSON; {file} is not "
                "an MCUboot image, which carries its signature inside"
            )
        image.first_pass.seek(0)
        return verify_mcuboot_image(
            image.first_pass,
            [public_key],
            endian=endian,
            max_size=slot_size,
            header_size=header_size,
            min_security_counter=security_counter,
            source=str(file),
        )


def mcuboot_result(file: Path, verified: VerifiedMcubootImage) -> dict[str, Any]:
    return {
        "file": str(file),
        "verified": True,
        "format": "MCUboot",
        "version": str(verified.version),
        "securityCounter": verified.security_counter,
        "signatureType": verified.algorithm.name,
        "hashAlgorithm": verified.algorithm.hash_name,
        "digest": verified.digest.hex(),
        "keyFingerprint": verified.key_fingerprint,
        "headerSize": verified.header_size,
        "imageSize": verified.image_size,
        "signedSize": verified.signed_size,
        "loadAddress": verified.load_address,
        "flags": verified.flags,
        "dependencies": [
            {"imageId": d.image_id, "minVersion": str(d.min_version)}
            for d in verified.dependencies
        ],
    }


def report(file: Path, verified: VerifiedMcubootImage, as_json: bool) -> None:
    if as_json:
        emit(mcuboot_result(file, verified), as_json=True)
        return
    counter = "none" if verified.security_counter is None else str(verified.security_counter)
    click.echo(f"verified {file}: MCUboot image {verified.version}, security counter {counter}")
    click.echo(
        f"  {verified.algorithm.name} over {verified.algorithm.hash_name}:{verified.digest.hex()}"
    )
    click.echo(
        f"  header {verified.header_size} bytes, payload {verified.image_size} bytes, "
        f"key fingerprint {verified.key_fingerprint}"
    )
    for dependency in verified.dependencies:
        click.echo(f"  needs image {dependency.image_id} at {dependency.min_version} or newer")

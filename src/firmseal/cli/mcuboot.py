"""`firmseal mcuboot ...`: external signing of MCUboot images, as imgtool offers it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from firmseal.cli.context import AppContext, pass_app
from firmseal.cli.output import emit, json_option
from firmseal.cli.profiles import param_option
from firmseal.fsutil import write_atomic
from firmseal.service.external_signing import (
    MAX_SIGNATURE_FILE,
    SigningTarget,
    attach,
    decode_signature,
    image_digest,
    target_from_profile,
    target_from_public_key,
)
from firmseal.service.local_images import open_file
from firmseal.service.profiles import parse_params

_path = click.Path(dir_okay=False, path_type=Path)


_TARGET_OPTIONS = (
    click.option("--profile", "profile_name", help="Signing profile (MCUboot platform)."),
    click.option("--platform", "platform_id", help="MCUboot platform id, with --public-key."),
    click.option("--public-key", type=_path, help="PEM public key of the external signer."),
    param_option,
)


def _target_options(function: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_TARGET_OPTIONS):
        function = option(function)
    return function


def _read_limited(path: Path, limit: int, role: str) -> bytes:
    with open_file(path, role) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise click.UsageError(f"{role} file {path} is over {limit} bytes")
    return data


def _target(
    app: AppContext,
    profile_name: str | None,
    platform_id: str | None,
    public_key: Path | None,
    params: tuple[str, ...],
) -> SigningTarget:
    overrides = parse_params(params)
    if profile_name is not None:
        if platform_id is not None or public_key is not None:
            raise click.UsageError("give --profile, or --platform with --public-key, not both")
        return target_from_profile(app.workspace, profile_name, overrides)
    if platform_id is None or public_key is None:
        raise click.UsageError("give --profile NAME, or --platform ID with --public-key PEM")
    pem = _read_limited(public_key, MAX_SIGNATURE_FILE, "public key")
    return target_from_public_key(platform_id, pem, overrides, str(public_key))


@click.group("mcuboot")
def mcuboot_group() -> None:
    """External signing of MCUboot images: export the digest, then attach the signature."""


@mcuboot_group.command("digest")
@click.argument("file", type=_path)
@_target_options
@click.option("--out", type=_path, help="Also write the raw digest bytes to this file.")
@json_option
@pass_app
def digest_command(
    app: AppContext,
    file: Path,
    profile_name: str | None,
    platform_id: str | None,
    public_key: Path | None,
    params: tuple[str, ...],
    out: Path | None,
    as_json: bool,
) -> None:
    """Print the digest of FILE's MCUboot image for an external signer to sign.

    ECDSA and RSA-PSS sign it as a precomputed digest; Ed25519 signs it as the message.
    """
    target = _target(app, profile_name, platform_id, public_key, params)
    digest = image_digest(target, file, (out or file).parent)
    if out is not None:
        write_atomic(out, digest)
    document = {
        "file": str(file),
        "platformId": target.platform.platform_id,
        "hashAlgorithm": target.algorithm.hash_name,
        "signatureScheme": target.platform.scheme.value,
        "digest": digest.hex(),
    }
    if as_json:
        emit(document, as_json=True)
        return
    click.echo(digest.hex())


@mcuboot_group.command("attach-signature")
@click.argument("file", type=_path)
@click.option(
    "--signature",
    type=_path,
    required=True,
    help="Signature over the exported digest: DER, raw r||s, raw bytes, or base64 text.",
)
@_target_options
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Folder for the signed image (default: the current folder).",
)
@json_option
@pass_app
def attach_command(
    app: AppContext,
    file: Path,
    signature: Path,
    profile_name: str | None,
    platform_id: str | None,
    public_key: Path | None,
    params: tuple[str, ...],
    out_dir: Path,
    as_json: bool,
) -> None:
    """Write FILE's signed MCUboot image with a signature made elsewhere.

    Give the same parameters as to `firmseal mcuboot digest`; the signature must verify.
    """
    target = _target(app, profile_name, platform_id, public_key, params)
    raw = _read_limited(signature, MAX_SIGNATURE_FILE, "signature")
    result = attach(target, file, decode_signature(raw, str(signature)), out_dir)
    document = {
        "file": str(file),
        "platformId": target.platform.platform_id,
        "digest": result.digest.hex(),
        "signedObjects": [str(path) for path in result.files],
    }
    if as_json:
        emit(document, as_json=True)
        return
    click.echo(f"wrote {result.files[0]}")

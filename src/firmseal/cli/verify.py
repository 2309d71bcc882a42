"""`firmseal verify`: check an image the way a device would, and name the cause on failure."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from firmseal.cli.context import AppContext, pass_app
from firmseal.cli.output import emit
from firmseal.cli.progress import progress_bar
from firmseal.cli.verify_mcuboot import based_int, report, verify_mcuboot_file
from firmseal.device import (
    MalformedInputError,
    SignatureMismatchError,
    TrustAnchor,
    VerificationError,
    VerifiedImage,
    verify_detached,
    verify_signed_object,
)
from firmseal.device.keys import verify_digest
from firmseal.device.verify import MAX_SIGNED_OBJECT_BYTES
from firmseal.errors import FirmsealError, InvalidInputError
from firmseal.formats import intelhex
from firmseal.kms.base import load_public_key
from firmseal.pki.certificates import load_certificates
from firmseal.service.local_images import is_intel_hex, open_file

_MAX_SIGNATURE_FILE = 64 * 1024
# The largest flat image a HEX file given to verify may describe: the largest platform limit.
MAX_HEX_IMAGE_BYTES = 2048 * 1024 * 1024


def _read(path: Path, limit: int, role: str) -> bytes:
    try:
        with path.open("rb") as stream:
            return stream.read(limit + 1)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {role} {path}: {exc.strerror}") from None


def _load_public_key(path: Path) -> PublicKeyTypes:
    data = _read(path, _MAX_SIGNATURE_FILE, "public key")
    if b"CERTIFICATE-----" in data:
        raise InvalidInputError(f"{path} contains a certificate; pass it with --certificate")
    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_public_key(data)
        return serialization.load_der_public_key(data)
    except ValueError:
        raise InvalidInputError(
            f"{path} is not a PEM or DER public key; export one with "
            "`firmseal key public-key ALIAS --format pem`"
        ) from None


def _parse_time(text: str | None) -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"invalid --at {text!r}; expected ISO 8601 such as 2027-01-31T12:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _anchor(
    public_key: Path | None, certificate: Path | None, ca: Path | None
) -> tuple[TrustAnchor, x509.Certificate | None, list[x509.Certificate]]:
    if public_key is not None:
        return TrustAnchor(public_key=_load_public_key(public_key)), None, []
    assert certificate is not None
    chain = load_certificates(_read(certificate, 1 << 20, "certificate"), str(certificate))
    if ca is None:
        return TrustAnchor(certificates=(chain[0],)), chain[0], chain[1:]
    anchors = load_certificates(_read(ca, 1 << 20, "CA certificate"), str(ca))
    for anchor in anchors:
        if not _is_ca(anchor):
            raise InvalidInputError(
                f"{ca} contains {anchor.subject.rfc4514_string()!r}, which is not a CA "
                "certificate (basicConstraints CA:TRUE); pass the issuing CA with --ca"
            )
    return TrustAnchor(certificates=tuple(anchors)), chain[0], chain[1:]


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _explain_mismatch(app: AppContext, error: SignatureMismatchError, algorithm: str) -> str:
    """Add which workspace key signed the image, when one of them verifies the signature."""
    # Imported here, on the failure path only, because it loads SQLAlchemy: a verify that
    # succeeds never opens the workspace.
    from firmseal.service.keys import KeyService, fingerprint

    try:
        records = KeyService(app.workspace).list_all()
    except FirmsealError:
        return str(error)
    for record in records:
        try:
            verify_digest(
                load_public_key(record.public_key_der), error.signature, error.digest, algorithm
            )
        except VerificationError:
            continue
        return (
            f"image was signed by key {record.alias!r} (SHA-256 fingerprint "
            f"{fingerprint(record)}), not by the trusted key (SHA-256 fingerprint "
            f"{error.trusted_fingerprint}); trust that key or re-sign with the trusted one"
        )
    return str(error)


def _result(file: Path, verified: VerifiedImage) -> dict[str, Any]:
    return {
        "file": str(file),
        "verified": True,
        "size": verified.size,
        "digest": verified.digest.hex(),
        "signatureAlgorithm": verified.algorithm,
        "keyFingerprint": verified.key_fingerprint,
        "signer": verified.signer,
        "chain": list(verified.chain),
    }


@click.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--signature", type=click.Path(dir_okay=False, path_type=Path), help="DER signature."
)
@click.option(
    "--signed-object",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONEmbedded signed object (NAME.signed.json).",
)
@click.option("--public-key", type=click.Path(dir_okay=False, path_type=Path), help="Trusted key.")
@click.option(
    "--certificate",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Signer's certificate (PEM, intermediates may follow).",
)
@click.option(
    "--ca", type=click.Path(dir_okay=False, path_type=Path), help="Trusted CA certificate(s)."
)
@click.option(
    "--at",
    "at_text",
    help="Time for the certificate validity checks, ISO 8601 (default: now).",
)
@click.option(
    "--slot-size",
    callback=based_int(1, 0xFFFFFFFF),
    help="MCUboot: slot size in bytes; the signed image must fit in it.",
)
@click.option(
    "--header-size",
    callback=based_int(32, 0xFFFF),
    help="MCUboot: the header size in bytes that the bootloader expects.",
)
@click.option(
    "--security-counter",
    callback=based_int(0, 0xFFFFFFFF),
    help="MCUboot: the device's stored security counter; images below it are rejected.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@pass_app
def verify_command(
    app: AppContext,
    file: Path,
    signature: Path | None,
    signed_object: Path | None,
    public_key: Path | None,
    certificate: Path | None,
    ca: Path | None,
    at_text: str | None,
    slot_size: int | None,
    header_size: int | None,
    security_counter: int | None,
    as_json: bool,
) -> None:
    """Verify FILE against a signature and a trust anchor; exit 0 only if everything holds.

    An MCUboot image (binary or Intel HEX) carries its signature, so it needs only
    --public-key; it is recognised by its magic.
    """
    if signature is None and signed_object is None:
        if public_key is None:
            raise click.UsageError(
                "give --signature SIG or --signed-object JSON, and a trust anchor; an MCUboot "
                "image needs only --public-key PEM"
            )
        verified_image = verify_mcuboot_file(
            file,
            _load_public_key(public_key),
            slot_size=slot_size,
            header_size=header_size,
            security_counter=security_counter,
        )
        report(file, verified_image, as_json)
        return
    if slot_size is not None or header_size is not None or security_counter is not None:
        raise click.UsageError(
            "--slot-size, --header-size and --security-counter apply to MCUboot images only"
        )
    if (signature is None) == (signed_object is None):
        raise click.UsageError("give exactly one of --signature SIG or --signed-object JSON")
    if public_key is not None and certificate is not None:
        raise click.UsageError(
            "give one trust anchor: --public-key PEM, or --certificate PEM [--ca PEM], not both"
        )
    if public_key is None and certificate is None:
        raise click.UsageError(
            "give a trust anchor: --public-key PEM, or --certificate PEM [--ca PEM]; "
            "without one only a hash could be checked, which proves nothing"
        )
    if ca is not None and certificate is None:
        raise click.UsageError("--ca needs --certificate (the signer's certificate)")
    at = _parse_time(at_text)
    anchor, signer, intermediates = _anchor(public_key, certificate, ca)
    try:
        if signature is not None:
            verified = _verify_detached(
                file, signature, anchor, signer, intermediates, at, as_json
            )
        else:
            assert signed_object is not None
            data = _read(signed_object, MAX_SIGNED_OBJECT_BYTES, "signed object")
            with _open_image(file) as image:
                verified = verify_signed_object(
                    data,
                    anchor,
                    image=image,
                    signer_certificate=signer,
                    intermediates=intermediates,
                    at=at,
                    source=str(signed_object),
                    image_name=str(file),
                )
    except SignatureMismatchError as exc:
        raise VerificationError(_explain_mismatch(app, exc, "SHA256withECDSA")) from None
    document = _result(file, verified)
    if as_json:
        emit(document, as_json=True)
        return
    click.echo(f"verified {file}: {verified.algorithm} over sha256:{verified.digest.hex()}")
    click.echo(f"  size {verified.size} bytes, key fingerprint {verified.key_fingerprint}")
    for depth, name in enumerate(verified.chain):
        click.echo(f"  {'signer' if depth == 0 else 'issuer'}: {name}")


@contextlib.contextmanager
def _open_image(file: Path) -> Iterator[BinaryIO]:
    """Open the image to verify; Intel HEX is decoded to the flat image that was signed."""
    with open_file(file, "image") as stream:
        if not is_intel_hex(file):
            yield stream
            return
        with tempfile.TemporaryFile() as flat:
            intelhex.decode_flat(
                stream, str(file), MAX_HEX_IMAGE_BYTES, flat, lambda: file.open("rb")
            )
            flat.seek(0)
            yield cast(BinaryIO, flat)


def _verify_detached(
    file: Path,
    signature: Path,
    anchor: TrustAnchor,
    signer: x509.Certificate | None,
    intermediates: list[x509.Certificate],
    at: dt.datetime,
    as_json: bool,
) -> VerifiedImage:
    signature_bytes = _read(signature, _MAX_SIGNATURE_FILE, "signature")
    if not signature_bytes:
        raise MalformedInputError(f"signature file {signature} is empty")
    with _open_image(file) as image:
        size = os.fstat(image.fileno()).st_size
        if size == 0:
            raise InvalidInputError(f"image {file} is empty; expected a firmware image")
        with progress_bar(f"verifying {file.name}", size, as_json) as advance:
            return verify_detached(
                image,
                signature_bytes,
                anchor,
                signer_certificate=signer,
                intermediates=intermediates,
                at=at,
                image_name=str(file),
                signature_name=str(signature),
                progress=advance,
            )

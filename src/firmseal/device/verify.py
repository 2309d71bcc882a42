"""Verify a firmware image the way a device does: digest, signature, key, chain, validity.

Pure: no network, no database, no clock. The caller passes the verification time when
certificates are involved, and streams the image in; nothing here writes anything.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from firmseal.device import certificates, encoding, keys
from firmseal.device.errors import (
    MalformedInputError,
    SizeMismatchError,
    VerificationError,
)

CHUNK_SIZE = 1024 * 1024
# The largest JSONEmbedded object firmseal reads: a 16 MiB FreeRTOS image in base64 is
# about 22.4 MB, plus the signature and field names.
MAX_SIGNED_OBJECT_BYTES = 24 * 1024 * 1024


@dataclass(frozen=True)
class TrustAnchor:
    """The device's embedded trust: a public key, or CA certificates (or a pinned signer)."""

    public_key: PublicKeyTypes | None = None
    certificates: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        if (self.public_key is None) == (not self.certificates):
            raise ValueError("a trust anchor is either one public key or CA certificates")


@dataclass(frozen=True)
class VerifiedImage:
    """The facts a successful verification established."""

    digest: bytes
    size: int
    algorithm: str
    key_fingerprint: str
    signer: str | None = None
    chain: tuple[str, ...] = ()


def _resolve_key(
    anchor: TrustAnchor,
    signer_certificate: x509.Certificate | None,
    intermediates: Sequence[x509.Certificate],
    at: dt.datetime | None,
) -> tuple[PublicKeyTypes, tuple[str, ...]]:
    """Return the key the signature must verify under, after checking the signer's chain."""
    if anchor.public_key is not None:
        return anchor.public_key, ()
    if signer_certificate is None:
        if len(anchor.certificates) != 1:
            raise MalformedInputError("a CA trust anchor needs the signer's certificate too")
        signer_certificate = anchor.certificates[0]
    if at is None:
        raise ValueError("verification time is required when certificates are checked")
    if signer_certificate in anchor.certificates:
        # A pinned signer certificate: the device trusts this certificate itself.
        certificates.check_code_signing_usage(signer_certificate)
        certificates.check_validity(signer_certificate, at)
        path = [signer_certificate]
    else:
        path = certificates.verify_chain(
            signer_certificate, intermediates, anchor.certificates, at
        )
    names = tuple(cert.subject.rfc4514_string() for cert in path)
    return signer_certificate.public_key(), names


def hash_image(
    image: BinaryIO,
    algorithm: str,
    max_size: int | None,
    source: str,
    progress: Callable[[int], None] | None = None,
) -> tuple[bytes, int]:
    """Hash an image stream, rejecting a signed object given as the image and oversize input."""
    hasher = hashlib.new(keys.hash_name(algorithm))
    total = 0
    first = True
    while chunk := image.read(CHUNK_SIZE):
        if first:
            encoding.check_not_signed_object(chunk[:4096], source)
            first = False
        total += len(chunk)
        if max_size is not None and total > max_size:
            raise SizeMismatchError(f"{source} is larger than the limit of {max_size} bytes")
        hasher.update(chunk)
        if progress is not None:
            progress(len(chunk))
    return hasher.digest(), total


def _check_signature_encoding(
    public_key: PublicKeyTypes, signature: bytes, algorithm: str, source: str
) -> bytes:
    if isinstance(public_key, ec.EllipticCurvePublicKey) and algorithm.endswith("ECDSA"):
        return encoding.check_ecdsa_der(signature, (public_key.key_size + 7) // 8, source)
    return signature


def verify_detached(
    image: BinaryIO,
    signature: bytes,
    anchor: TrustAnchor,
    *,
    algorithm: str = keys.ECDSA_SHA256,
    signer_certificate: x509.Certificate | None = None,
    intermediates: Sequence[x509.Certificate] = (),
    at: dt.datetime | None = None,
    max_size: int | None = None,
    image_name: str = "image",
    signature_name: str = "signature",
    progress: Callable[[int], None] | None = None,
) -> VerifiedImage:
    """Verify a detached signature over the whole image; raise VerificationError if it fails."""
    # 1. Trust first: a key the device does not trust makes the rest pointless.
    public_key, chain = _resolve_key(anchor, signer_certificate, intermediates, at)
    # 2. The signature must be DER, so a mix-up in encoding is named, not reported as forgery.
    signature = _check_signature_encoding(public_key, signature, algorithm, signature_name)
    # 3. Hash the image once, in chunks, so memory does not grow with image size.
    digest, size = hash_image(image, algorithm, max_size, image_name, progress)
    if size == 0:
        raise SizeMismatchError(f"{image_name} is empty; expected a firmware image")
    # 4. The signature must verify over that digest under the trusted key.
    keys.verify_digest(public_key, signature, digest, algorithm)
    return VerifiedImage(
        digest=digest,
        size=size,
        algorithm=algorithm,
        key_fingerprint=keys.fingerprint(public_key),
        signer=chain[0] if chain else None,
        chain=chain,
    )


@dataclass(frozen=True)
class UnverifiedSignedObject:
    """A JSONEmbedded signed object after parsing, before any check of its signature."""

    raw_payload_size: int
    signature: bytes
    algorithm: str
    payload: bytes


def parse_signed_object_unverified(data: bytes, source: str) -> UnverifiedSignedObject:
    """Parse the JSONEmbedded layout, checking types and sizes but not the signature."""
    if len(data) > MAX_SIGNED_OBJECT_BYTES:
        raise MalformedInputError(
            f"{source} is larger than the {MAX_SIGNED_OBJECT_BYTES}-byte limit for a signed object"
        )
    try:
        document: Any = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedInputError(f"{source} is not a JSON signed object: {exc}") from None
    except RecursionError:
        raise MalformedInputError(f"{source} nests JSON too deeply for a signed object") from None
    if not isinstance(document, dict):
        raise MalformedInputError(f"{source} is not a JSON object")
    if "afr_ota" in document:
        raise MalformedInputError(
            f"{source} is an OTA job document, not a signed object; pass NAME.signed.json"
        )
    size = document.get("rawPayloadSize")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise MalformedInputError(f"{source}: rawPayloadSize must be a non-negative integer")
    algorithm = document.get("signatureAlgorithm")
    if algorithm not in (keys.ECDSA_SHA256, keys.ECDSA_SHA384):
        raise MalformedInputError(
            f"{source}: unsupported signatureAlgorithm {algorithm!r}; expected SHA256withECDSA"
        )
    fields = {}
    for name in ("signature", "payload"):
        value = document.get(name)
        if not isinstance(value, str):
            raise MalformedInputError(f"{source}: {name} must be a base64 string")
        try:
            fields[name] = base64.b64decode(value, validate=True)
        except binascii.Error:
            raise MalformedInputError(f"{source}: {name} is not valid base64") from None
    return UnverifiedSignedObject(size, fields["signature"], algorithm, fields["payload"])


def verify_signed_object(
    signed_object: bytes,
    anchor: TrustAnchor,
    *,
    image: BinaryIO | None = None,
    signer_certificate: x509.Certificate | None = None,
    intermediates: Sequence[x509.Certificate] = (),
    at: dt.datetime | None = None,
    source: str = "signed object",
    image_name: str = "image",
) -> VerifiedImage:
    """Verify a JSONEmbedded signed object, and that `image` (if given) is its payload."""
    public_key, chain = _resolve_key(anchor, signer_certificate, intermediates, at)
    parsed = parse_signed_object_unverified(signed_object, source)
    signature = _check_signature_encoding(
        public_key, parsed.signature, parsed.algorithm, f"{source} signature"
    )
    # The recorded size guards against a payload cut short or padded in transit.
    if len(parsed.payload) != parsed.raw_payload_size:
        raise SizeMismatchError(
            f"{source}: payload is {len(parsed.payload)} bytes but rawPayloadSize is "
            f"{parsed.raw_payload_size}"
        )
    hash_algorithm = keys.hash_name(parsed.algorithm)
    digest = hashlib.new(hash_algorithm, parsed.payload).digest()
    keys.verify_digest(public_key, signature, digest, parsed.algorithm)
    if image is not None:
        image_digest, image_size = hash_image(image, parsed.algorithm, None, image_name)
        if image_digest != digest:
            raise VerificationError(
                f"{image_name} ({image_size} bytes, {hash_algorithm} {image_digest.hex()}) is "
                f"not the payload signed in {source} ({parsed.raw_payload_size} bytes, "
                f"{hash_algorithm} {digest.hex()})"
            )
    return VerifiedImage(
        digest=digest,
        size=parsed.raw_payload_size,
        algorithm=parsed.algorithm,
        key_fingerprint=keys.fingerprint(public_key),
        signer=chain[0] if chain else None,
        chain=chain,
    )

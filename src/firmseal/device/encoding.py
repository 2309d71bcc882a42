"""Checks that a signature is DER, and names what it is when it is not.

Devices in the field usually report one bare "signature verification failed". These checks
tell apart the common mix-ups: base64 text, base64 applied twice, raw r||s from an HSM or a
JOSE library, and a certificate or public key passed where the signature belongs.
"""

from __future__ import annotations

import base64
import binascii

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from firmseal.device.errors import MalformedInputError, SignatureEncodingError

_BASE64_ALPHABET = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n"
)
# A DER ECDSA-Sig-Value for P-384 is at most 104 bytes; RSA-4096 signatures are 512.
MAX_SIGNATURE_BYTES = 1024


def _is_der_ecdsa(data: bytes) -> bool:
    try:
        decode_dss_signature(data)
    except ValueError:
        return False
    return True


def _base64_decoded(data: bytes) -> bytes | None:
    text = data.strip()
    if not text or not set(text) <= _BASE64_ALPHABET:
        return None
    try:
        return base64.b64decode(b"".join(text.split()), validate=True)
    except binascii.Error:
        return None


def _describe_key_material(data: bytes) -> str | None:
    stripped = data.lstrip()
    if stripped.startswith(b"-----BEGIN "):
        label = stripped[11 : stripped.find(b"-----", 11)].decode("ascii", "replace")
        return f"a PEM {label}"
    if stripped.startswith(b"{"):
        return "JSON text (a signed object? pass it with --signed-object)"
    try:
        x509.load_der_x509_certificate(data)
        return "a DER certificate"
    except ValueError:
        pass
    try:
        serialization.load_der_public_key(data)
        return "a DER public key"
    except ValueError:
        return None


def check_ecdsa_der(data: bytes, coordinate_bytes: int, source: str) -> bytes:
    """Return `data` if it is a DER ECDSA signature; otherwise raise with what it looks like."""
    if len(data) > MAX_SIGNATURE_BYTES:
        raise SignatureEncodingError(
            f"{source} is {len(data)} bytes, too long for a signature "
            f"(at most {MAX_SIGNATURE_BYTES}); is it the image or the signed object?"
        )
    if _is_der_ecdsa(data):
        return data
    what = _describe_key_material(data)
    if what is not None:
        raise SignatureEncodingError(
            f"{source} contains {what}, not a signature; pass the .sig file as the signature "
            "and keys or certificates as the trust anchor"
        )
    once = _base64_decoded(data)
    if once is not None and _is_der_ecdsa(once):
        raise SignatureEncodingError(
            f"{source} is base64 text of a DER signature, not DER; decode it first "
            f"(base64 -d {source} > {source}.der)"
        )
    twice = _base64_decoded(once) if once is not None else None
    if twice is not None and _is_der_ecdsa(twice):
        raise SignatureEncodingError(
            f"{source} is base64-encoded twice; decode it twice "
            f"(base64 -d {source} | base64 -d > {source}.der)"
        )
    if len(data) == 2 * coordinate_bytes:
        raise SignatureEncodingError(
            f"{source} is {len(data)} bytes, the size of a raw r||s ECDSA signature, not DER; "
            "convert it to DER (an ASN.1 SEQUENCE of two INTEGERs) before verifying"
        )
    raise SignatureEncodingError(
        f"{source} is not a DER ECDSA signature ({len(data)} bytes, first bytes "
        f"{data[:8].hex() or 'none'})"
    )


def check_not_signed_object(head: bytes, source: str) -> None:
    """Raise when the bytes given as the image are a JSONEmbedded signed object."""
    text = head.lstrip()
    if text.startswith(b"{") and (b'"rawPayloadSize"' in text or b'"signatureAlgorithm"' in text):
        raise MalformedInputError(
            f"{source} is a JSONEmbedded signed object, not the image; pass it with "
            "--signed-object and give the firmware image as FILE"
        )

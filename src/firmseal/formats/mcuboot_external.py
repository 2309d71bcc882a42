"""External signing of MCUboot images: export the digest, then attach a signature.

This is imgtool's `--vector-to-sign digest` and `--fix-sig` with `--fix-sig-pubkey`: the
digest leaves firmseal, a signer elsewhere (an offline HSM, a cloud KMS) signs it, and
the signature comes back with the public key. Both steps read the same image with the
same signing parameters, so they lay out the same bytes and compute the same digest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from firmseal.device.errors import VerificationError
from firmseal.device.mcuboot_layout import McubootAlgorithm
from firmseal.errors import InvalidInputError
from firmseal.formats.base import ImageInput, SignContext, SignResult
from firmseal.formats.mcuboot import SCHEMES, McubootFormat, check_signature, prepare
from firmseal.kms.base import SignatureScheme


@dataclass(frozen=True)
class PublicKeySigner:
    """A `Signer` with only the public key, which lays out an image but cannot sign."""

    public_key: bytes
    scheme: SignatureScheme

    def public_key_der(self) -> bytes:
        return self.public_key

    def sign_digest(self, digest: bytes) -> bytes:
        raise InvalidInputError("no signature is available; attach one made elsewhere")


@dataclass(frozen=True)
class FixedSignatureSigner:
    """A `Signer` that returns a signature made elsewhere once it verifies over the digest."""

    public_key: bytes
    scheme: SignatureScheme
    signature: bytes

    def public_key_der(self) -> bytes:
        return self.public_key

    def sign_digest(self, digest: bytes) -> bytes:
        try:
            check_signature(self.public_key, self.scheme, digest, self.signature)
        except VerificationError:
            fingerprint = hashlib.sha256(self.public_key).hexdigest()
            raise InvalidInputError(
                f"the attached signature does not verify over this image's digest "
                f"{digest.hex()} under the given public key (SHA-256 fingerprint "
                f"{fingerprint}); sign the digest that `firmseal mcuboot digest` printed for "
                "the same image and parameters"
            ) from None
        return self.signature


def export_digest(
    image: ImageInput, public_key_der: bytes, algorithm: McubootAlgorithm, context: SignContext
) -> bytes:
    """Return the digest an external signer must sign (Ed25519 signs it as the message).

    Reads `image.first_pass` to its end; writes nothing.
    """
    signer = PublicKeySigner(public_key_der, SCHEMES[algorithm])
    _, digest = prepare(image, signer, algorithm, context)
    return digest


def der_ecdsa_signature(signature: bytes, public_key_der: bytes) -> bytes:
    """Return an ECDSA signature as DER, converting a raw r||s (as PKCS#11 returns it)."""
    public_key = serialization.load_der_public_key(public_key_der)
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return signature
    try:
        decode_dss_signature(signature)
    except ValueError:
        size = (public_key.key_size + 7) // 8
        if len(signature) != 2 * size:
            raise InvalidInputError(
                f"the ECDSA signature is {len(signature)} bytes and not DER; expected DER "
                f"or a raw r||s of {2 * size} bytes"
            ) from None
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        return encode_dss_signature(r, s)
    return signature


def attach_signature(
    image: ImageInput,
    public_key_der: bytes,
    signature: bytes,
    algorithm: McubootAlgorithm,
    context: SignContext,
) -> SignResult:
    """Write the signed image with a signature made elsewhere over the exported digest.

    Raises InvalidInputError when the signature does not verify under `public_key_der`.
    """
    if algorithm in (McubootAlgorithm.ECDSA_P256, McubootAlgorithm.ECDSA_P384):
        signature = der_ecdsa_signature(signature, public_key_der)
    signer = FixedSignatureSigner(public_key_der, SCHEMES[algorithm], signature)
    return McubootFormat(algorithm).sign(image, signer, context)

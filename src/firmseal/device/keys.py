"""Public keys and signature checks over a precomputed digest."""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from firmseal.device.errors import SignatureMismatchError, UnsupportedKeyError

# Algorithm names as Java and AWS Signer spell them.
ECDSA_SHA256 = "SHA256withECDSA"
ECDSA_SHA384 = "SHA384withECDSA"
RSA_PSS_SHA256 = "SHA256withRSA/PSS"
RSA_PSS_SHA384 = "SHA384withRSA/PSS"
ED25519 = "Ed25519"

_HASHES: dict[str, type[hashes.SHA256] | type[hashes.SHA384]] = {
    ECDSA_SHA256: hashes.SHA256,
    RSA_PSS_SHA256: hashes.SHA256,
    ED25519: hashes.SHA256,
    ECDSA_SHA384: hashes.SHA384,
    RSA_PSS_SHA384: hashes.SHA384,
}


def hash_name(algorithm: str) -> str:
    """Return the hashlib name of the digest `algorithm` signs."""
    return _hash_of(algorithm).name


def _hash_of(algorithm: str) -> hashes.SHA256 | hashes.SHA384:
    try:
        return _HASHES[algorithm]()
    except KeyError:
        raise UnsupportedKeyError(f"unsupported signature algorithm {algorithm!r}") from None


def public_key_der(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(public_key: PublicKeyTypes) -> str:
    """Return the SHA-256 of the key's DER SubjectPublicKeyInfo as lowercase hex."""
    return hashlib.sha256(public_key_der(public_key)).hexdigest()


def verify_digest(
    public_key: PublicKeyTypes, signature: bytes, digest: bytes, algorithm: str
) -> None:
    """Check `signature` over `digest`; raise SignatureMismatchError when it does not hold."""
    hash_algorithm = _hash_of(algorithm)
    prehashed = utils.Prehashed(hash_algorithm)
    try:
        if algorithm in (ECDSA_SHA256, ECDSA_SHA384):
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise _wrong_key(public_key, algorithm)
            public_key.verify(signature, digest, ec.ECDSA(prehashed))
        elif algorithm in (RSA_PSS_SHA256, RSA_PSS_SHA384):
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise _wrong_key(public_key, algorithm)
            pss = padding.PSS(padding.MGF1(hash_algorithm), salt_length=len(digest))
            public_key.verify(signature, digest, pss, prehashed)
        else:
            if not isinstance(public_key, ed25519.Ed25519PublicKey):
                raise _wrong_key(public_key, algorithm)
            public_key.verify(signature, digest)
    except InvalidSignature:
        trusted = fingerprint(public_key)
        raise SignatureMismatchError(
            f"signature does not verify under the trusted key (SHA-256 fingerprint {trusted}): "
            "the image changed after signing, or another key signed it",
            trusted,
            digest,
            signature,
        ) from None


def _wrong_key(public_key: PublicKeyTypes, algorithm: str) -> UnsupportedKeyError:
    return UnsupportedKeyError(
        f"trusted key is {type(public_key).__name__.removeprefix('_')}, which cannot check "
        f"{algorithm} signatures"
    )

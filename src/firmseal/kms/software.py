"""Key generation and signing with in-process `cryptography` keys.

Used by the local key store after it decrypts a key, and by tests and benchmarks as the
reference that every other backend must match.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import (
    PrivateKeyTypes,
    PublicKeyTypes,
)

from firmseal.kms.base import KeySpec, SignatureScheme

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def generate_private_key(spec: KeySpec) -> SigningKey:
    match spec:
        case KeySpec.ECC_NIST_P256:
            return ec.generate_private_key(ec.SECP256R1())
        case KeySpec.ECC_NIST_P384:
            return ec.generate_private_key(ec.SECP384R1())
        case KeySpec.ED25519:
            return ed25519.Ed25519PrivateKey.generate()
        case KeySpec.RSA_2048:
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        case KeySpec.RSA_3072:
            return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def spec_of_public_key(public_key: PublicKeyTypes) -> KeySpec:
    """Return the key spec of a public key, or raise ValueError for a type firmseal lacks."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if isinstance(public_key.curve, ec.SECP256R1):
            return KeySpec.ECC_NIST_P256
        if isinstance(public_key.curve, ec.SECP384R1):
            return KeySpec.ECC_NIST_P384
        raise ValueError(f"unsupported elliptic curve {public_key.curve.name}")
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return KeySpec.ED25519
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size == 2048:
            return KeySpec.RSA_2048
        if public_key.key_size == 3072:
            return KeySpec.RSA_3072
        raise ValueError(f"unsupported RSA key size {public_key.key_size}")
    raise ValueError(f"unsupported public key type {type(public_key).__name__}")


def hash_of(scheme: SignatureScheme) -> hashes.HashAlgorithm:
    return hashes.SHA384() if scheme.digest_size == 48 else hashes.SHA256()


def sign_digest(key: PrivateKeyTypes, digest: bytes, scheme: SignatureScheme) -> bytes:
    """Sign a precomputed digest (or, for ED25519, the given bytes) with an in-process key."""
    prehashed = utils.Prehashed(hash_of(scheme))
    if scheme is SignatureScheme.ED25519:
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError(f"{scheme} needs an Ed25519 key")
        return key.sign(digest)
    if scheme in (SignatureScheme.ECDSA_SHA256, SignatureScheme.ECDSA_SHA384):
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{scheme} needs an elliptic curve key")
        return key.sign(digest, ec.ECDSA(prehashed))
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{scheme} needs an RSA key")
    if scheme in (SignatureScheme.RSA_PSS_SHA256, SignatureScheme.RSA_PSS_SHA384):
        pss = padding.PSS(mgf=padding.MGF1(hash_of(scheme)), salt_length=scheme.digest_size)
        return key.sign(digest, pss, prehashed)
    return key.sign(digest, padding.PKCS1v15(), prehashed)


def public_key_der(key: SigningKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

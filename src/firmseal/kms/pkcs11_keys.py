"""Conversions between PKCS#11 key attributes, signature mechanisms and standard encodings.

These functions only transform bytes: they never call a PKCS#11 module.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pkcs11 import MGF, KeyType, Mechanism

from firmseal.errors import BackendError, InvalidInputError
from firmseal.kms.base import KeySpec, SignatureScheme

# DER of the DigestInfo header that precedes the digest in an RSA PKCS#1 v1.5 signature
# (RFC 8017 section 9.2, note 1).
DIGEST_INFO_PREFIX = {
    32: bytes.fromhex("3031300d060960864801650304020105000420"),
    48: bytes.fromhex("3041300d060960864801650304020205000430"),
}

# DER-encoded OBJECT IDENTIFIERs for CKA_EC_PARAMS.
EC_PARAMS = {
    KeySpec.ECC_NIST_P256: bytes.fromhex("06082a8648ce3d030107"),
    KeySpec.ECC_NIST_P384: bytes.fromhex("06052b81040022"),
    KeySpec.ED25519: bytes.fromhex("06032b6570"),
}
# PKCS#11 v3.0 also allows a PrintableString curve name for Edwards keys.
_ED25519_PARAMS = {EC_PARAMS[KeySpec.ED25519], b"\x13\x0cedwards25519"}
_CURVES: dict[bytes, ec.EllipticCurve] = {
    EC_PARAMS[KeySpec.ECC_NIST_P256]: ec.SECP256R1(),
    EC_PARAMS[KeySpec.ECC_NIST_P384]: ec.SECP384R1(),
}
_RSA_BITS = {KeySpec.RSA_2048: 2048, KeySpec.RSA_3072: 3072}


@dataclass(frozen=True)
class MechanismChoice:
    """The PKCS#11 mechanism, its parameter and the data to pass for one signature."""

    mechanism: Mechanism
    parameter: tuple[Mechanism, MGF, int] | None
    data: bytes


def key_type_for_spec(spec: KeySpec) -> KeyType:
    if spec in _RSA_BITS:
        return KeyType.RSA
    if spec is KeySpec.ED25519:
        return KeyType.EC_EDWARDS
    return KeyType.EC


def rsa_bits(spec: KeySpec) -> int:
    return _RSA_BITS[spec]


def key_type_for_scheme(scheme: SignatureScheme) -> KeyType:
    if scheme is SignatureScheme.ED25519:
        return KeyType.EC_EDWARDS
    if scheme in (SignatureScheme.ECDSA_SHA256, SignatureScheme.ECDSA_SHA384):
        return KeyType.EC
    return KeyType.RSA


def mechanism_for(scheme: SignatureScheme, digest: bytes) -> MechanismChoice:
    """Return the mechanism that signs an already computed digest under `scheme`.

    CKM_ECDSA and CKM_RSA_PKCS_PSS take the digest itself. CKM_RSA_PKCS pads whatever it is
    given, so the DigestInfo header goes in front of the digest. CKM_EDDSA signs the bytes as
    its message, which matches the ED25519 scheme.
    """
    size = scheme.digest_size
    if scheme is SignatureScheme.ED25519:
        return MechanismChoice(Mechanism.EDDSA, None, digest)
    if scheme in (SignatureScheme.ECDSA_SHA256, SignatureScheme.ECDSA_SHA384):
        return MechanismChoice(Mechanism.ECDSA, None, digest)
    if scheme in (SignatureScheme.RSA_PSS_SHA256, SignatureScheme.RSA_PSS_SHA384):
        hash_mechanism, mgf = (
            (Mechanism.SHA384, MGF.SHA384) if size == 48 else (Mechanism.SHA256, MGF.SHA256)
        )
        return MechanismChoice(Mechanism.RSA_PKCS_PSS, (hash_mechanism, mgf, size), digest)
    return MechanismChoice(Mechanism.RSA_PKCS, None, DIGEST_INFO_PREFIX[size] + digest)


def ecdsa_der_from_raw(raw: bytes) -> bytes:
    """Convert a PKCS#11 ECDSA signature (r and s, each padded to the order size) to DER."""
    if not raw or len(raw) % 2:
        raise BackendError(f"PKCS#11 returned a {len(raw)}-byte ECDSA signature; expected r||s")
    half = len(raw) // 2
    r = int.from_bytes(raw[:half], "big")
    s = int.from_bytes(raw[half:], "big")
    return utils.encode_dss_signature(r, s)


def unwrap_ec_point(value: bytes) -> bytes:
    """Return the point inside CKA_EC_POINT, which most tokens wrap in a DER OCTET STRING."""
    if len(value) >= 2 and value[0] == 0x04:
        length, header = _der_length(value)
        if length is not None and header + length == len(value):
            return value[header:]
    return value


def _der_length(value: bytes) -> tuple[int | None, int]:
    first = value[1]
    if first < 0x80:
        return first, 2
    count = first & 0x7F
    if count == 0 or count > 2 or len(value) < 2 + count:
        return None, 0
    return int.from_bytes(value[2 : 2 + count], "big"), 2 + count


def ec_public_key(ec_params: bytes, ec_point: bytes) -> PublicKeyTypes:
    """Build an EC or Ed25519 public key from CKA_EC_PARAMS and CKA_EC_POINT."""
    point = unwrap_ec_point(ec_point)
    if ec_params in _ED25519_PARAMS:
        return ed25519.Ed25519PublicKey.from_public_bytes(point)
    curve = _CURVES.get(ec_params)
    if curve is None:
        raise InvalidInputError(
            f"PKCS#11 key uses curve parameters {ec_params.hex()}, which firmseal does not "
            "support; supported curves are P-256, P-384 and Ed25519"
        )
    return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)


def rsa_public_key(modulus: bytes, public_exponent: bytes) -> PublicKeyTypes:
    numbers = rsa.RSAPublicNumbers(
        int.from_bytes(public_exponent, "big"), int.from_bytes(modulus, "big")
    )
    return numbers.public_key()

"""Conversions between PKCS#11 attributes, mechanisms and standard encodings."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils
from pkcs11 import MGF, Mechanism

from firmseal.errors import BackendError, InvalidInputError
from firmseal.kms.base import KeySpec, SignatureScheme
from firmseal.kms.pkcs11_keys import (
    DIGEST_INFO_PREFIX,
    EC_PARAMS,
    ec_public_key,
    ecdsa_der_from_raw,
    mechanism_for,
    unwrap_ec_point,
)


def test_ecdsa_raw_to_der() -> None:
    raw = (5).to_bytes(32, "big") + (7).to_bytes(32, "big")
    assert utils.decode_dss_signature(ecdsa_der_from_raw(raw)) == (5, 7)


@pytest.mark.parametrize("raw", [b"", b"\x01\x02\x03"])
def test_ecdsa_raw_odd_length_rejected(raw: bytes) -> None:
    with pytest.raises(BackendError, match=r"-byte ECDSA signature; expected r\|\|s"):
        ecdsa_der_from_raw(raw)


def test_pkcs1_mechanism_prefixes_digest_info() -> None:
    digest = bytes(range(32))
    choice = mechanism_for(SignatureScheme.RSA_PKCS1_SHA256, digest)
    assert choice.mechanism is Mechanism.RSA_PKCS
    assert choice.parameter is None
    assert choice.data == DIGEST_INFO_PREFIX[32] + digest
    assert len(choice.data) == 51


def test_pss_mechanism_parameters() -> None:
    choice = mechanism_for(SignatureScheme.RSA_PSS_SHA384, bytes(48))
    assert choice.mechanism is Mechanism.RSA_PKCS_PSS
    assert choice.parameter == (Mechanism.SHA384, MGF.SHA384, 48)
    assert choice.data == bytes(48)


def test_ecdsa_and_eddsa_mechanisms_pass_digest() -> None:
    assert mechanism_for(SignatureScheme.ECDSA_SHA256, bytes(32)).mechanism is Mechanism.ECDSA
    eddsa = mechanism_for(SignatureScheme.ED25519, b"m" * 32)
    assert eddsa.mechanism is Mechanism.EDDSA
    assert eddsa.data == b"m" * 32


def test_ec_point_wrapped_and_raw() -> None:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    assert unwrap_ec_point(bytes([0x04, len(point)]) + point) == point
    assert unwrap_ec_point(point) == point


def test_ec_point_long_form_length() -> None:
    point = b"\x04" + bytes(132)  # a P-521-sized point needs the 0x81 length form
    assert unwrap_ec_point(bytes([0x04, 0x81, len(point)]) + point) == point


def test_ed25519_key_from_printable_curve_name() -> None:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    built = ec_public_key(b"\x13\x0cedwards25519", bytes([0x04, 32]) + raw)
    assert isinstance(built, ed25519.Ed25519PublicKey)
    assert built.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw


def test_p384_key_from_attributes() -> None:
    public = ec.generate_private_key(ec.SECP384R1()).public_key()
    point = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    built = ec_public_key(EC_PARAMS[KeySpec.ECC_NIST_P384], bytes([0x04, len(point)]) + point)
    assert built == public


def test_unsupported_curve_rejected() -> None:
    secp256k1 = bytes.fromhex("06052b8104000a")
    with pytest.raises(InvalidInputError, match="06052b8104000a"):
        ec_public_key(secp256k1, b"\x04" * 65)

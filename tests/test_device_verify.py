"""The device verifier: each failure raises its own error class with a specific message."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import io
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from firmseal import device
from firmseal.device import encoding

NOW = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)
IMAGE = bytes(range(256)) * 200


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_cert(
    subject_key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    subject: str,
    issuer: str,
    *,
    ca: bool = False,
    eku: list[x509.ObjectIdentifier] | None = None,
    not_before: dt.datetime = NOW - dt.timedelta(days=30),
    not_after: dt.datetime = NOW + dt.timedelta(days=30),
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def keys() -> dict[str, ec.EllipticCurvePrivateKey]:
    return {label: ec.generate_private_key(ec.SECP256R1()) for label in ("ca", "signer", "other")}


def sign(key: ec.EllipticCurvePrivateKey, data: bytes = IMAGE) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def key_anchor(key: ec.EllipticCurvePrivateKey) -> device.TrustAnchor:
    return device.TrustAnchor(public_key=key.public_key())


def test_detached_ok(keys) -> None:
    verified = device.verify_detached(
        io.BytesIO(IMAGE), sign(keys["signer"]), key_anchor(keys["signer"])
    )
    assert verified.digest == hashlib.sha256(IMAGE).digest()
    assert verified.size == len(IMAGE)
    assert verified.key_fingerprint == device.fingerprint(keys["signer"].public_key())


def test_tampered_image(keys) -> None:
    tampered = bytearray(IMAGE)
    tampered[1000] ^= 1
    with pytest.raises(device.SignatureMismatchError) as caught:
        device.verify_detached(
            io.BytesIO(bytes(tampered)), sign(keys["signer"]), key_anchor(keys["signer"])
        )
    assert caught.value.trusted_fingerprint == device.fingerprint(keys["signer"].public_key())
    assert caught.value.digest == hashlib.sha256(tampered).digest()


def test_signature_from_other_key(keys) -> None:
    with pytest.raises(device.SignatureMismatchError):
        device.verify_detached(io.BytesIO(IMAGE), sign(keys["other"]), key_anchor(keys["signer"]))


def test_empty_image(keys) -> None:
    with pytest.raises(device.SizeMismatchError, match="is empty"):
        device.verify_detached(
            io.BytesIO(b""), sign(keys["signer"], b""), key_anchor(keys["signer"])
        )


def test_image_over_limit(keys) -> None:
    with pytest.raises(device.SizeMismatchError, match="larger than the limit of 100 bytes"):
        device.verify_detached(
            io.BytesIO(IMAGE), sign(keys["signer"]), key_anchor(keys["signer"]), max_size=100
        )


def _raw_rs(signature: bytes) -> bytes:
    r, s = decode_dss_signature(signature)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize(
    ("mangle", "needle"),
    [
        (base64.b64encode, "is base64 text of a DER signature"),
        (lambda sig: base64.b64encode(base64.b64encode(sig)), "base64-encoded twice"),
        (_raw_rs, "raw r||s"),
        (lambda sig: sig[:-3], "not a DER ECDSA signature"),
        (lambda sig: b"", "not a DER ECDSA signature"),
        (lambda sig: b"\x00" * 2000, "too long for a signature"),
    ],
)
def test_signature_encoding_named(keys, mangle, needle: str) -> None:
    with pytest.raises(device.SignatureEncodingError, match=needle.replace("|", r"\|")):
        device.verify_detached(
            io.BytesIO(IMAGE), mangle(sign(keys["signer"])), key_anchor(keys["signer"])
        )


def test_certificate_where_signature_belongs(keys) -> None:
    cert = make_cert(
        keys["signer"], keys["ca"], "signer", "ca", eku=[ExtendedKeyUsageOID.CODE_SIGNING]
    )
    for data, what in [
        (cert.public_bytes(serialization.Encoding.PEM), "a PEM CERTIFICATE"),
        (cert.public_bytes(serialization.Encoding.DER), "a DER certificate"),
        (
            keys["signer"]
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "a DER public key",
        ),
    ]:
        with pytest.raises(
            device.SignatureEncodingError, match=f"contains {what}, not a signature"
        ):
            device.verify_detached(io.BytesIO(IMAGE), data, key_anchor(keys["signer"]))


def signed_object(key: ec.EllipticCurvePrivateKey, payload: bytes = IMAGE) -> bytes:
    return json.dumps(
        {
            "rawPayloadSize": len(payload),
            "signature": base64.b64encode(sign(key, payload)).decode(),
            "signatureAlgorithm": "SHA256withECDSA",
            "payload": base64.b64encode(payload).decode(),
        }
    ).encode()


def test_signed_object_given_as_image(keys) -> None:
    with pytest.raises(device.MalformedInputError, match="is a JSONEmbedded signed object"):
        device.verify_detached(
            io.BytesIO(signed_object(keys["signer"])),
            sign(keys["signer"]),
            key_anchor(keys["signer"]),
        )


def test_signed_object_ok_and_image_match(keys) -> None:
    verified = device.verify_signed_object(
        signed_object(keys["signer"]), key_anchor(keys["signer"]), image=io.BytesIO(IMAGE)
    )
    assert verified.size == len(IMAGE)


def test_signed_object_image_differs(keys) -> None:
    with pytest.raises(device.VerificationError, match="is not the payload signed in"):
        device.verify_signed_object(
            signed_object(keys["signer"]), key_anchor(keys["signer"]), image=io.BytesIO(IMAGE[:-1])
        )


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"rawPayloadSize": -1}, "rawPayloadSize must be a non-negative integer"),
        ({"rawPayloadSize": True}, "rawPayloadSize must be a non-negative integer"),
        ({"signatureAlgorithm": "SHA1withRSA"}, "unsupported signatureAlgorithm"),
        ({"payload": "###"}, "payload is not valid base64"),
        ({"signature": 5}, "signature must be a base64 string"),
    ],
)
def test_signed_object_fields_checked(keys, change: dict, needle: str) -> None:
    document = json.loads(signed_object(keys["signer"]))
    document.update(change)
    with pytest.raises(device.MalformedInputError, match=needle):
        device.verify_signed_object(json.dumps(document).encode(), key_anchor(keys["signer"]))


def test_signed_object_not_json(keys) -> None:
    with pytest.raises(device.MalformedInputError, match="not a JSON signed object"):
        device.verify_signed_object(b"\x00\x01garbage", key_anchor(keys["signer"]))


def chain_setup(keys, **signer_options):
    ca = make_cert(keys["ca"], keys["ca"], "ca", "ca", ca=True)
    options = {"eku": [ExtendedKeyUsageOID.CODE_SIGNING], **signer_options}
    signer = make_cert(keys["signer"], keys["ca"], "signer", "ca", **options)
    return ca, signer


def verify_with_chain(keys, ca, signer, at=NOW):
    return device.verify_detached(
        io.BytesIO(IMAGE),
        sign(keys["signer"]),
        device.TrustAnchor(certificates=(ca,)),
        signer_certificate=signer,
        at=at,
    )


def test_chain_ok(keys) -> None:
    ca, signer = chain_setup(keys)
    verified = verify_with_chain(keys, ca, signer)
    assert verified.chain == ("CN=signer", "CN=ca")


def test_chain_without_code_signing_eku(keys) -> None:
    ca, signer = chain_setup(keys, eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    with pytest.raises(device.CertificateUsageError, match="lacks extendedKeyUsage codeSigning"):
        verify_with_chain(keys, ca, signer)


def test_chain_without_eku_extension(keys) -> None:
    ca, signer = chain_setup(keys, eku=None)
    with pytest.raises(device.CertificateUsageError, match="has no extendedKeyUsage"):
        verify_with_chain(keys, ca, signer)


def test_certificate_expired(keys) -> None:
    ca, signer = chain_setup(keys)
    with pytest.raises(device.CertificateExpiredError, match="expired at"):
        verify_with_chain(keys, ca, signer, at=NOW + dt.timedelta(days=31))


def test_certificate_not_yet_valid(keys) -> None:
    ca, signer = chain_setup(keys)
    with pytest.raises(device.CertificateNotYetValidError, match="is not valid until"):
        verify_with_chain(keys, ca, signer, at=NOW - dt.timedelta(days=31))


def test_chain_to_another_anchor(keys) -> None:
    _, signer = chain_setup(keys)
    stranger = make_cert(keys["other"], keys["other"], "stranger", "stranger", ca=True)
    with pytest.raises(device.ChainError, match="does not chain to the trust anchor"):
        verify_with_chain(keys, stranger, signer)


def test_pinned_signer_certificate(keys) -> None:
    _, signer = chain_setup(keys)
    verified = device.verify_detached(
        io.BytesIO(IMAGE),
        sign(keys["signer"]),
        device.TrustAnchor(certificates=(signer,)),
        at=NOW,
    )
    assert verified.signer == "CN=signer"


def test_certificates_need_a_time(keys) -> None:
    ca, signer = chain_setup(keys)
    with pytest.raises(ValueError, match="verification time is required"):
        verify_with_chain(keys, ca, signer, at=None)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_signature_check(data: bytes) -> None:
    with contextlib.suppress(device.SignatureEncodingError):
        encoding.check_ecdsa_der(data, 32, "sig")


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=400),
        st.dictionaries(
            st.sampled_from(["rawPayloadSize", "signature", "signatureAlgorithm", "payload"]),
            st.one_of(st.integers(), st.text(max_size=40), st.none(), st.booleans()),
        ).map(lambda d: json.dumps(d).encode()),
    )
)
def test_fuzz_signed_object_parser(data: bytes) -> None:
    with contextlib.suppress(device.MalformedInputError):
        device.parse_signed_object_unverified(data, "fuzz")


def test_deeply_nested_signed_object(keys) -> None:
    with pytest.raises(device.MalformedInputError, match="nests JSON too deeply"):
        device.parse_signed_object_unverified(b"[" * 100_000, "deep.json")

"""Issue CA and code-signing certificates, and read certificate files."""

from __future__ import annotations

import datetime as dt
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from firmseal.errors import InvalidInputError

# Backdating notBefore by a few minutes tolerates devices whose clocks run slightly behind.
CLOCK_SKEW = dt.timedelta(minutes=5)


def parse_subject(text: str) -> x509.Name:
    """Parse an RFC 4514 distinguished name such as `CN=Acme Firmware,O=Acme`."""
    try:
        name = x509.Name.from_rfc4514_string(text)
    except ValueError:
        raise InvalidInputError(
            f"invalid subject {text!r}; expected an RFC 4514 name like 'CN=Acme,O=Acme'"
        ) from None
    if not list(name):
        raise InvalidInputError(f"invalid subject {text!r}; expected at least CN=...")
    return name


def _hash_for(public_key: PublicKeyTypes) -> hashes.HashAlgorithm | None:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return None
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _base_builder(
    subject: x509.Name, issuer: x509.Name, public_key: PublicKeyTypes, now: dt.datetime, days: int
) -> x509.CertificateBuilder:
    if not 1 <= days <= 36500:
        raise InvalidInputError(f"invalid validity of {days} days; expected 1 to 36500")
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
    )


def issue_ca(
    ca_key: PrivateKeyTypes, subject: x509.Name, days: int, now: dt.datetime
) -> x509.Certificate:
    """Create a self-signed root CA certificate that may issue end-entity certificates only."""
    public_key = ca_key.public_key()
    builder = (
        _base_builder(subject, subject, public_key, now, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key),  # type: ignore[arg-type]
            critical=False,
        )
    )
    return builder.sign(ca_key, _hash_for(public_key))  # type: ignore[arg-type]


def issue_code_signing(
    ca_key: PrivateKeyTypes,
    *,
    ca_certificate: x509.Certificate,
    subject_public_key: PublicKeyTypes,
    subject: x509.Name,
    days: int,
    now: dt.datetime,
) -> x509.Certificate:
    """Issue an X.509 v3 code-signing certificate (digitalSignature, EKU codeSigning)."""
    if now + dt.timedelta(days=days) > ca_certificate.not_valid_after_utc:
        raise InvalidInputError(
            f"a certificate valid for {days} days would outlive its CA, which expires at "
            f"{ca_certificate.not_valid_after_utc.isoformat()}; use fewer --days"
        )
    ca_public = ca_key.public_key()
    builder = (
        _base_builder(subject, ca_certificate.subject, subject_public_key, now, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public),  # type: ignore[arg-type]
            critical=False,
        )
    )
    return builder.sign(ca_key, _hash_for(ca_public))  # type: ignore[arg-type]


def load_certificates(data: bytes, source: str) -> list[x509.Certificate]:
    """Read one or more certificates from PEM, or one from DER."""
    try:
        if b"-----BEGIN" in data:
            certificates = x509.load_pem_x509_certificates(data)
        else:
            certificates = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise InvalidInputError(f"{source} is not a PEM or DER X.509 certificate: {exc}") from None
    return certificates


def to_pem(certificates: list[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates)


def certificate_arn(partition: str, region: str, account_id: str, certificate_id: str) -> str:
    return f"arn:{partition}:acm:{region}:{account_id}:certificate/{certificate_id}"

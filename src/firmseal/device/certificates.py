"""Checks on the signer's code-signing certificate and its chain to the trust anchor.

Chain building and path validation (signatures, basicConstraints, name chaining, validity
of every certificate in the path) are done by `cryptography.x509.verification`. This module
adds the code-signing rules around it and turns each failure into a specific error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from firmseal.device.errors import (
    CertificateExpiredError,
    CertificateNotYetValidError,
    CertificateUsageError,
    ChainError,
)

MAX_CHAIN_DEPTH = 4


def describe(certificate: x509.Certificate) -> str:
    subject = certificate.subject.rfc4514_string()
    return f"certificate {subject!r} (serial {certificate.serial_number:x})"


def check_validity(certificate: x509.Certificate, at: dt.datetime) -> None:
    """Raise when `at` is outside [notBefore, notAfter] of the certificate."""
    if at < certificate.not_valid_before_utc:
        raise CertificateNotYetValidError(
            f"{describe(certificate)} is not valid until "
            f"{certificate.not_valid_before_utc.isoformat()}, after the verification time "
            f"{at.isoformat()}"
        )
    if at > certificate.not_valid_after_utc:
        raise CertificateExpiredError(
            f"{describe(certificate)} expired at {certificate.not_valid_after_utc.isoformat()}, "
            f"before the verification time {at.isoformat()}"
        )


def check_code_signing_usage(certificate: x509.Certificate) -> None:
    """Raise unless the certificate allows digitalSignature and extendedKeyUsage codeSigning."""
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise CertificateUsageError(
            f"{describe(certificate)} has no extendedKeyUsage extension; a code-signing "
            "certificate needs extendedKeyUsage codeSigning"
        ) from None
    if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise CertificateUsageError(
            f"{describe(certificate)} lacks extendedKeyUsage codeSigning "
            f"(it has {', '.join(oid.dotted_string for oid in eku) or 'none'})"
        )
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.digital_signature:
        raise CertificateUsageError(f"{describe(certificate)} lacks keyUsage digitalSignature")


def verify_chain(
    signer: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    at: dt.datetime,
) -> list[x509.Certificate]:
    """Check the signer certificate and its path to one of `anchors`; return the path."""
    check_code_signing_usage(signer)
    for certificate in (signer, *intermediates):
        check_validity(certificate, at)
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(list(anchors)))
        .time(at)
        .max_chain_depth(MAX_CHAIN_DEPTH)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(signer, list(intermediates))
    except verification.VerificationError as exc:
        anchor_names = "; ".join(a.subject.rfc4514_string() for a in anchors)
        issuer = signer.issuer.rfc4514_string()
        raise ChainError(
            f"{describe(signer)}, issued by {issuer!r}, does not chain to the trust anchor "
            f"({anchor_names}): {exc}"
        ) from None
    return list(verified.chain)

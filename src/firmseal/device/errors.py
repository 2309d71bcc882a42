"""Verification failures: every check raises a subclass of `VerificationError`."""

from __future__ import annotations


class VerificationError(Exception):
    """The image, signature or certificate chain does not prove what was asked."""


class MalformedInputError(VerificationError):
    """An input is not what its role needs (a certificate where the signature belongs)."""


class SignatureEncodingError(MalformedInputError):
    """The signature is not DER: base64 text, base64 twice, raw r||s, or garbage."""


class SignatureMismatchError(VerificationError):
    """The signature does not verify under the trusted key.

    Either the image changed after signing, or another key signed it. `trusted_fingerprint`
    is the SHA-256 of the trusted key's DER SubjectPublicKeyInfo, as lowercase hex; `digest`
    and `signature` let a caller with other candidate keys find out which one signed.
    """

    def __init__(
        self, message: str, trusted_fingerprint: str, digest: bytes, signature: bytes
    ) -> None:
        super().__init__(message)
        self.trusted_fingerprint = trusted_fingerprint
        self.digest = digest
        self.signature = signature


class SizeMismatchError(VerificationError):
    """The image length differs from the length the signed metadata records."""


class CertificateError(VerificationError):
    """The signer's certificate or its chain fails a check."""


class ChainError(CertificateError):
    """The signer's certificate does not chain to the trust anchor."""


class CertificateUsageError(CertificateError):
    """The signer's certificate lacks keyUsage digitalSignature or EKU codeSigning."""


class CertificateExpiredError(CertificateError):
    """The certificate's notAfter is before the verification time."""


class CertificateNotYetValidError(CertificateError):
    """The certificate's notBefore is after the verification time."""


class UnsupportedKeyError(VerificationError):
    """The trusted key's type does not fit the signature algorithm."""


class MalformedImageError(MalformedInputError):
    """An image's layout is invalid: truncated, wrong magic, bad sizes or TLVs out of bounds."""


class DigestMismatchError(VerificationError):
    """The digest recorded in the image differs from the digest of the bytes it covers."""


class UnknownKeyError(VerificationError):
    """The image names a signing key (by hash or in full) that no trust anchor matches."""


class RollbackError(VerificationError):
    """The image's security counter is below the counter the device has stored."""

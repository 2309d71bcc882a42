"""The verifier a device runs. Imports only the standard library and `cryptography`.

Every function takes bytes or streams, trust anchors and limits, and returns what it
verified or raises a subclass of `VerificationError`. None returns a bool to ignore.
"""

from firmseal.device.errors import (
    CertificateError,
    CertificateExpiredError,
    CertificateNotYetValidError,
    CertificateUsageError,
    ChainError,
    DigestMismatchError,
    MalformedImageError,
    MalformedInputError,
    RollbackError,
    SignatureEncodingError,
    SignatureMismatchError,
    SizeMismatchError,
    UnknownKeyError,
    UnsupportedKeyError,
    VerificationError,
)
from firmseal.device.keys import fingerprint
from firmseal.device.mcuboot import VerifiedMcubootImage, verify_mcuboot_image
from firmseal.device.verify import (
    TrustAnchor,
    VerifiedImage,
    parse_signed_object_unverified,
    verify_detached,
    verify_signed_object,
)

__all__ = [
    "CertificateError",
    "CertificateExpiredError",
    "CertificateNotYetValidError",
    "CertificateUsageError",
    "ChainError",
    "DigestMismatchError",
    "MalformedImageError",
    "MalformedInputError",
    "RollbackError",
    "SignatureEncodingError",
    "SignatureMismatchError",
    "SizeMismatchError",
    "TrustAnchor",
    "UnknownKeyError",
    "UnsupportedKeyError",
    "VerificationError",
    "VerifiedImage",
    "VerifiedMcubootImage",
    "fingerprint",
    "parse_signed_object_unverified",
    "verify_detached",
    "verify_mcuboot_image",
    "verify_signed_object",
]

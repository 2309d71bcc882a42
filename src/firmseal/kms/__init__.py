"""Key custody backends: each creates keys, returns public keys and signs digests."""

from firmseal.kms.base import (
    BackendSigner,
    BackendStatus,
    CreatedKey,
    KeyBackend,
    KeySpec,
    KeyState,
    SignatureScheme,
    Signer,
)

__all__ = [
    "BackendSigner",
    "BackendStatus",
    "CreatedKey",
    "KeyBackend",
    "KeySpec",
    "KeyState",
    "SignatureScheme",
    "Signer",
]

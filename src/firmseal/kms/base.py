"""The narrow interface every key backend implements, and the signer that formats use.

A backend only does the mathematics: it never decides which key or scheme a format needs.
Formats receive a `Signer` bound to one key and one scheme, and ask it for one signature
over a digest they computed themselves.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes


class KeySpec(enum.StrEnum):
    """Key types, named as AWS KMS names them."""

    ECC_NIST_P256 = "ECC_NIST_P256"
    ECC_NIST_P384 = "ECC_NIST_P384"
    ED25519 = "ED25519"
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"


class KeyState(enum.StrEnum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"


class SignatureScheme(enum.StrEnum):
    """The scheme that turns a digest into a signature.

    ECDSA signatures are DER-encoded (RFC 3279 Ecdsa-Sig-Value). RSA-PSS uses MGF1 with the
    same hash and a salt as long as the digest; RSA PKCS#1 v1.5 is for X.509 certificates.
    ED25519 signs the given bytes as its message (MCUboot's imgtool passes the image digest),
    because Ed25519 has no pre-hashed mode in common use.
    """

    ECDSA_SHA256 = "ECDSA_SHA256"
    ECDSA_SHA384 = "ECDSA_SHA384"
    RSA_PSS_SHA256 = "RSA_PSS_SHA256"
    RSA_PSS_SHA384 = "RSA_PSS_SHA384"
    RSA_PKCS1_SHA256 = "RSA_PKCS1_SHA256"
    RSA_PKCS1_SHA384 = "RSA_PKCS1_SHA384"
    ED25519 = "ED25519"

    @property
    def digest_size(self) -> int:
        return 48 if self.name.endswith("SHA384") else 32


@dataclass(frozen=True)
class CreatedKey:
    """A key a backend has just generated or adopted: its URI and DER SubjectPublicKeyInfo.

    `warnings` are one-line messages for the operator, such as the reason an adopted
    PKCS#11 key is weaker than a generated one.
    """

    uri: str
    spec: KeySpec
    public_key_der: bytes
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackendStatus:
    """Result of a backend health check: reachability, and what was found or why it failed.

    `configured` is False for an optional backend that the environment does not set up; such
    a backend is reported without being contacted.
    """

    backend: str
    reachable: bool
    detail: str
    configured: bool = True


@runtime_checkable
class KeyBackend(Protocol):
    """Custody of private keys. Implementations never return or log private key material."""

    name: str

    def create_key(self, spec: KeySpec) -> CreatedKey:
        """Generate a key inside the backend and return its URI and public key."""
        ...

    def public_key_der(self, uri: str) -> bytes:
        """Return the DER SubjectPublicKeyInfo of the key at `uri`."""
        ...

    def sign_digest(self, uri: str, digest: bytes, scheme: SignatureScheme) -> bytes:
        """Sign `digest` with the key at `uri`; ECDSA results are DER-encoded."""
        ...

    def key_state(self, uri: str) -> KeyState:
        """Return the state the backend itself reports for the key."""
        ...


class Signer(Protocol):
    """One key and one scheme, the view of a key that a format gets."""

    @property
    def scheme(self) -> SignatureScheme: ...

    def public_key_der(self) -> bytes: ...

    def sign_digest(self, digest: bytes) -> bytes: ...


@dataclass(frozen=True)
class BackendSigner:
    """A `Signer` that forwards to a backend for one key URI."""

    backend: KeyBackend
    uri: str
    scheme: SignatureScheme

    def public_key_der(self) -> bytes:
        return self.backend.public_key_der(self.uri)

    def sign_digest(self, digest: bytes) -> bytes:
        if len(digest) != self.scheme.digest_size:
            raise ValueError(
                f"digest is {len(digest)} bytes but {self.scheme} signs "
                f"{self.scheme.digest_size}-byte digests"
            )
        return self.backend.sign_digest(self.uri, digest, self.scheme)


def load_public_key(der: bytes) -> PublicKeyTypes:
    return serialization.load_der_public_key(der)

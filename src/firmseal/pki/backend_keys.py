"""Private-key objects whose `sign` calls a key backend, for `cryptography`'s X.509 builders.

`CertificateBuilder.sign` accepts any object implementing cryptography's private key
interfaces and calls its `sign(data, ...)` (seen with cryptography 50). These classes hash
`data` and pass the digest to the backend, so a CA key kept in the key store (or an HSM)
signs certificates without leaving it. Every method that would expose private material
raises TypeError.
"""

from __future__ import annotations

import hashlib
from typing import Any, NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from firmseal.kms.base import KeyBackend, SignatureScheme, load_public_key


def _refuse() -> NoReturn:
    raise TypeError("a key backend's private key cannot be exported or used for this")


def _digest(data: bytes, algorithm: object) -> tuple[bytes, bool]:
    """Return the digest of `data` and whether it is SHA-384 (else SHA-256)."""
    if isinstance(algorithm, hashes.SHA256):
        return hashlib.sha256(data).digest(), False
    if isinstance(algorithm, hashes.SHA384):
        return hashlib.sha384(data).digest(), True
    raise ValueError(f"certificates are signed with SHA-256 or SHA-384, not {algorithm!r}")


class BackendEcKey(ec.EllipticCurvePrivateKey):
    def __init__(self, backend: KeyBackend, uri: str, public: ec.EllipticCurvePublicKey) -> None:
        self._backend, self._uri, self._public = backend, uri, public

    def sign(self, data: Any, signature_algorithm: Any) -> bytes:
        digest, is_384 = _digest(bytes(data), signature_algorithm.algorithm)
        scheme = SignatureScheme.ECDSA_SHA384 if is_384 else SignatureScheme.ECDSA_SHA256
        return self._backend.sign_digest(self._uri, digest, scheme)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def exchange(self, algorithm: Any, peer_public_key: Any) -> bytes:
        _refuse()

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        _refuse()

    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:
        _refuse()

    def __copy__(self) -> BackendEcKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> BackendEcKey:
        return self


class BackendRsaKey(rsa.RSAPrivateKey):
    def __init__(self, backend: KeyBackend, uri: str, public: rsa.RSAPublicKey) -> None:
        self._backend, self._uri, self._public = backend, uri, public

    def sign(self, data: Any, padding: Any, algorithm: Any) -> bytes:
        if not isinstance(padding, _PKCS1v15):
            raise ValueError("certificates are signed with RSA PKCS#1 v1.5 padding")
        digest, is_384 = _digest(bytes(data), algorithm)
        scheme = SignatureScheme.RSA_PKCS1_SHA384 if is_384 else SignatureScheme.RSA_PKCS1_SHA256
        return self._backend.sign_digest(self._uri, digest, scheme)

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding: Any) -> bytes:
        _refuse()

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        _refuse()

    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:
        _refuse()

    def __copy__(self) -> BackendRsaKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> BackendRsaKey:
        return self


class BackendEd25519Key(ed25519.Ed25519PrivateKey):
    def __init__(self, backend: KeyBackend, uri: str, public: ed25519.Ed25519PublicKey) -> None:
        self._backend, self._uri, self._public = backend, uri, public

    def sign(self, data: Any) -> bytes:
        return self._backend.sign_digest(self._uri, bytes(data), SignatureScheme.ED25519)

    def public_key(self) -> ed25519.Ed25519PublicKey:
        return self._public

    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:
        _refuse()

    def private_bytes_raw(self) -> bytes:
        _refuse()

    def __copy__(self) -> BackendEd25519Key:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> BackendEd25519Key:
        return self


_PKCS1v15 = padding.PKCS1v15


def backend_private_key(backend: KeyBackend, uri: str) -> PrivateKeyTypes:
    """Return a private-key object for `cryptography` builders that signs through `backend`."""
    public = load_public_key(backend.public_key_der(uri))
    if isinstance(public, ec.EllipticCurvePublicKey):
        return BackendEcKey(backend, uri, public)
    if isinstance(public, rsa.RSAPublicKey):
        return BackendRsaKey(backend, uri, public)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return BackendEd25519Key(backend, uri, public)
    raise ValueError(f"key {uri} has an unsupported type {type(public).__name__}")

"""Private-key objects whose `sign` calls a key backend, for `cryptography`'s X.509 builders.

`CertificateBuilder.sign` accepts any object implementing cryptography's private key
interfaces and calls its `sign(data, ...)`. These classes hash `data` and pass the digest to
the backend, so a CA key kept in the key store (or an HSM) signs certificates without ever
leaving it. Every method that would expose private material raises.
"""

from __future__ import annotations

import hashlib
from typing import Any, NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from firmseal.kms.base import KeyBackend, SignatureScheme, load_public_key


def _no_private_material(*_: Any) -> NoReturn:
    raise TypeError("a key backend's private key cannot be exported or used for this")


class _BackendKey:
    def __init__(self, backend: KeyBackend, uri: str) -> None:
        self._backend = backend
        self._uri = uri
        self._public = load_public_key(backend.public_key_der(uri))

    def public_key(self) -> Any:
        return self._public

    private_bytes = _no_private_material
    private_numbers = _no_private_material
    exchange = _no_private_material

    def __copy__(self) -> _BackendKey:
        return self

    def __deepcopy__(self, _memo: object) -> _BackendKey:
        return self


def _digest(data: bytes, algorithm: hashes.HashAlgorithm) -> tuple[bytes, int]:
    if isinstance(algorithm, hashes.SHA256):
        return hashlib.sha256(data).digest(), 256
    if isinstance(algorithm, hashes.SHA384):
        return hashlib.sha384(data).digest(), 384
    raise ValueError(f"certificates are signed with SHA-256 or SHA-384, not {algorithm.name}")


class BackendEcKey(_BackendKey, ec.EllipticCurvePrivateKey):
    def sign(self, data: Any, signature_algorithm: Any) -> bytes:
        digest, bits = _digest(bytes(data), signature_algorithm.algorithm)
        scheme = SignatureScheme.ECDSA_SHA384 if bits == 384 else SignatureScheme.ECDSA_SHA256
        return self._backend.sign_digest(self._uri, digest, scheme)

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve  # type: ignore[no-any-return]

    @property
    def key_size(self) -> int:
        return self._public.key_size  # type: ignore[no-any-return]


class BackendRsaKey(_BackendKey, rsa.RSAPrivateKey):
    def sign(self, data: Any, padding_: Any, algorithm: Any) -> bytes:
        if not isinstance(padding_, padding.PKCS1v15):
            raise ValueError("certificates are signed with RSA PKCS#1 v1.5 padding")
        digest, bits = _digest(bytes(data), algorithm)
        scheme = (
            SignatureScheme.RSA_PKCS1_SHA384 if bits == 384 else SignatureScheme.RSA_PKCS1_SHA256
        )
        return self._backend.sign_digest(self._uri, digest, scheme)

    decrypt = _no_private_material

    @property
    def key_size(self) -> int:
        return self._public.key_size  # type: ignore[no-any-return]


class BackendEd25519Key(_BackendKey, ed25519.Ed25519PrivateKey):
    def sign(self, data: Any) -> bytes:
        return self._backend.sign_digest(self._uri, bytes(data), SignatureScheme.ED25519)

    private_bytes_raw = _no_private_material


def backend_private_key(backend: KeyBackend, uri: str) -> PrivateKeyTypes:
    """Return a private-key object for `cryptography` builders that signs through `backend`."""
    public = load_public_key(backend.public_key_der(uri))
    if isinstance(public, ec.EllipticCurvePublicKey):
        return BackendEcKey(backend, uri)
    if isinstance(public, rsa.RSAPublicKey):
        return BackendRsaKey(backend, uri)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return BackendEd25519Key(backend, uri)
    raise ValueError(f"key {uri} has an unsupported type {type(public).__name__}")

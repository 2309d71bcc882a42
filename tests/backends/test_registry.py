"""Choosing a key backend from a URI, building optional backends only when used, and the
local backend's signatures checked by openssl and the device verifier."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.signatures import device_verify, digest_for, openssl_verify
from firmseal.errors import InvalidInputError
from firmseal.kms.base import BackendStatus, KeyBackend, KeySpec, SignatureScheme
from firmseal.kms.local import LocalKeyStore
from firmseal.kms.registry import BackendRegistry, backend_name_for_uri


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("local:3f1c1a2e-8a8b-4c3e-9d2f-0a1b2c3d4e5f", "local"),
        ("pkcs11:token=fw;object=release", "pkcs11"),
        ("PKCS11:object=release", "pkcs11"),
        ("arn:aws:kms:eu-west-1:123456789012:key/3f1c1a2e-8a8b-4c3e-9d2f-0a1b2c3d4e5f", "aws-kms"),
        ("arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/fw", "aws-kms"),
        ("alias/fw-release", "aws-kms"),
    ],
)
def test_backend_name_for_uri(uri: str, name: str) -> None:
    assert backend_name_for_uri(uri) == name


@pytest.mark.parametrize("uri", ["", "file:/k.pem", "arn:aws:s3:::bucket", "key/123", "local"])
def test_unknown_uri_form_rejected(uri: str) -> None:
    with pytest.raises(InvalidInputError, match="names no known backend"):
        backend_name_for_uri(uri)


@pytest.fixture
def local(tmp_path: Path) -> LocalKeyStore:
    return LocalKeyStore(tmp_path, bytes(range(32)))


class CountingFactory:
    """Builds a stand-in backend and counts how often it was asked to."""

    def __init__(self, backend: KeyBackend) -> None:
        self.backend = backend
        self.calls = 0

    def __call__(self) -> KeyBackend:
        self.calls += 1
        return self.backend


def test_optional_backend_built_once(local: LocalKeyStore) -> None:
    factory = CountingFactory(local)
    registry = BackendRegistry(lambda: local, environ={}, factories={"pkcs11": factory})
    first = registry.backend_for_uri("pkcs11:object=a")
    second = registry.backend("pkcs11")
    assert first is second
    assert factory.calls == 1


def test_unknown_backend_name(local: LocalKeyStore) -> None:
    with pytest.raises(InvalidInputError, match="unknown key backend 'hsm'"):
        BackendRegistry(lambda: local, environ={}).backend("hsm")


def test_check_skips_unconfigured(local: LocalKeyStore) -> None:
    pkcs11_factory = CountingFactory(local)
    kms_factory = CountingFactory(local)
    registry = BackendRegistry(
        lambda: local, environ={}, factories={"pkcs11": pkcs11_factory, "aws-kms": kms_factory}
    )
    statuses = registry.check()
    assert [status.backend for status in statuses] == ["local", "pkcs11", "aws-kms"]
    assert statuses[0] == BackendStatus("local", True, f"key folder {local._folder}, key files: 0")
    assert statuses[1].configured is False
    assert statuses[2].configured is False
    assert pkcs11_factory.calls == 0
    assert kms_factory.calls == 0


def test_check_reports_configuration_error(local: LocalKeyStore) -> None:
    registry = BackendRegistry(lambda: local, environ={"FIRMSEAL_PKCS11_MODULE": "/m.so"})
    status = registry.check()[1]
    assert status.configured is True
    assert status.reachable is False
    assert "FIRMSEAL_PKCS11_TOKEN is not set" in status.detail


def test_local_adopt_round_trip(local: LocalKeyStore) -> None:
    created = local.create_key(KeySpec.ED25519)
    name, adopted = BackendRegistry(lambda: local, environ={}).adopt(created.uri)
    assert name == "local"
    assert adopted == created


SCHEMES_BY_SPEC = [
    (KeySpec.ECC_NIST_P256, SignatureScheme.ECDSA_SHA256),
    (KeySpec.ECC_NIST_P384, SignatureScheme.ECDSA_SHA384),
    (KeySpec.ED25519, SignatureScheme.ED25519),
    (KeySpec.RSA_2048, SignatureScheme.RSA_PSS_SHA256),
    (KeySpec.RSA_3072, SignatureScheme.RSA_PSS_SHA384),
    (KeySpec.RSA_2048, SignatureScheme.RSA_PKCS1_SHA256),
]


@pytest.mark.parametrize(("spec", "scheme"), SCHEMES_BY_SPEC)
def test_local_signature_verifies_independently(
    local: LocalKeyStore, tmp_path: Path, spec: KeySpec, scheme: SignatureScheme
) -> None:
    created = local.create_key(spec)
    digest = digest_for(scheme, b"local firmware")
    signature = local.sign_digest(created.uri, digest, scheme)
    result = openssl_verify(tmp_path, created.public_key_der, signature, digest, scheme)
    assert result.returncode == 0, result.stdout + result.stderr
    device_verify(created.public_key_der, signature, digest, scheme)

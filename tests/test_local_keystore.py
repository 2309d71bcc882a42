"""The local key store: every key type signs correctly, and nothing on disk is plain text."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from conftest import Cli, openssl
from firmseal.errors import InvalidInputError, KeyStoreError
from firmseal.kms.base import KeySpec, SignatureScheme
from firmseal.kms.local import LocalKeyStore, parse_master_key

MESSAGE = b"firmware image bytes " * 100

# (spec, scheme, extra openssl dgst options); Ed25519 is checked with pkeyutl -rawin.
CASES = [
    (KeySpec.ECC_NIST_P256, SignatureScheme.ECDSA_SHA256, ["-sha256"]),
    (KeySpec.ECC_NIST_P384, SignatureScheme.ECDSA_SHA384, ["-sha384"]),
    (
        KeySpec.RSA_2048,
        SignatureScheme.RSA_PSS_SHA256,
        ["-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"],
    ),
    (
        KeySpec.RSA_3072,
        SignatureScheme.RSA_PSS_SHA384,
        ["-sha384", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48"],
    ),
    (KeySpec.RSA_3072, SignatureScheme.RSA_PKCS1_SHA256, ["-sha256"]),
]


@pytest.fixture
def store(tmp_path: Path) -> LocalKeyStore:
    folder = tmp_path / "keys"
    folder.mkdir()
    return LocalKeyStore(folder, os.urandom(32))


def write_public(tmp_path: Path, der: bytes) -> Path:
    path = tmp_path / "pub.pem"
    key = serialization.load_der_public_key(der)
    path.write_bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


@pytest.mark.parametrize(("spec", "scheme", "options"), CASES, ids=str)
def test_signature_verifies_with_openssl(store, tmp_path: Path, spec, scheme, options) -> None:
    created = store.create_key(spec)
    digest = hashlib.new("sha384" if scheme.digest_size == 48 else "sha256", MESSAGE).digest()
    signature = store.sign_digest(created.uri, digest, scheme)
    (tmp_path / "msg").write_bytes(MESSAGE)
    (tmp_path / "sig").write_bytes(signature)
    public = write_public(tmp_path, created.public_key_der)
    result = openssl(
        "dgst",
        *options,
        "-verify",
        str(public),
        "-signature",
        str(tmp_path / "sig"),
        str(tmp_path / "msg"),
    )
    assert result.returncode == 0, result.stderr
    assert b"Verified OK" in result.stdout


def test_ed25519_signs_given_bytes(store, tmp_path: Path) -> None:
    created = store.create_key(KeySpec.ED25519)
    digest = hashlib.sha256(MESSAGE).digest()
    signature = store.sign_digest(created.uri, digest, SignatureScheme.ED25519)
    (tmp_path / "digest").write_bytes(digest)
    (tmp_path / "sig").write_bytes(signature)
    public = write_public(tmp_path, created.public_key_der)
    result = openssl(
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        str(public),
        "-rawin",
        "-in",
        str(tmp_path / "digest"),
        "-sigfile",
        str(tmp_path / "sig"),
    )
    assert result.returncode == 0, result.stderr


def test_key_files_are_private_and_encrypted(fs: Cli) -> None:
    for spec in ("ECC_NIST_P256", "ECC_NIST_P384", "ED25519", "RSA_2048"):
        fs("key", "create", f"k-{spec.lower()}", "--spec", spec)
    fs("ca", "create", "ca1", "--spec", "ECC_NIST_P256", "--subject", "CN=CA")
    key_files = sorted((fs.home / "keys").glob("*.key.json"))
    check_file = fs.home / "keys" / "master-key-check.json"
    assert check_file.stat().st_mode & 0o777 == 0o600
    assert len(key_files) == 5
    assert {path.stat().st_mode & 0o777 for path in key_files} == {0o600}

    from firmseal.config import load_settings
    from firmseal.service.workspace import load_master_key

    store = LocalKeyStore(fs.home / "keys", load_master_key(load_settings()))
    secrets: list[bytes] = []
    for path in key_files:
        key = store._load("local:" + path.name.removesuffix(".key.json"))
        pkcs8 = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        secrets.append(pkcs8)
        if hasattr(key, "private_numbers") and hasattr(key.private_numbers(), "private_value"):
            value = key.private_numbers().private_value
            secrets.append(value.to_bytes((value.bit_length() + 7) // 8, "big"))
    for secret in list(secrets):
        secrets.append(base64.b64encode(secret))
    everything = [p for p in fs.home.rglob("*") if p.is_file()]
    assert len(everything) > len(key_files)
    for path in everything:
        content = path.read_bytes()
        assert b"PRIVATE KEY" not in content, path
        for secret in secrets:
            assert secret not in content, f"{path} contains private key material"


def test_wrong_master_key_cannot_decrypt(store, tmp_path: Path) -> None:
    created = store.create_key(KeySpec.ECC_NIST_P256)
    other = LocalKeyStore(tmp_path / "keys", os.urandom(32))
    with pytest.raises(
        KeyStoreError, match=r"cannot decrypt key local:.*master key does not match"
    ):
        other.sign_digest(created.uri, b"\x00" * 32, SignatureScheme.ECDSA_SHA256)


def test_key_file_bound_to_its_id(store, tmp_path: Path) -> None:
    first = store.create_key(KeySpec.ECC_NIST_P256)
    second = store.create_key(KeySpec.ECC_NIST_P256)
    first_path = tmp_path / "keys" / f"{first.uri[6:]}.key.json"
    second_path = tmp_path / "keys" / f"{second.uri[6:]}.key.json"
    document = json.loads(first_path.read_text())
    document["key_id"] = second.uri[6:]
    second_path.write_text(json.dumps(document))
    with pytest.raises(KeyStoreError, match="cannot decrypt"):
        store.public_key_der(second.uri)


def test_damaged_key_file(store, tmp_path: Path) -> None:
    created = store.create_key(KeySpec.ECC_NIST_P256)
    (tmp_path / "keys" / f"{created.uri[6:]}.key.json").write_text("{not json")
    with pytest.raises(KeyStoreError, match="unreadable or damaged"):
        store.public_key_der(created.uri)


@pytest.mark.parametrize(
    ("text", "needle"),
    [("!!!", "not valid base64"), (base64.b64encode(b"x" * 16).decode(), "is 16 bytes")],
)
def test_master_key_text_checked(text: str, needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        parse_master_key(text, "test")


def test_invalid_uri(store) -> None:
    with pytest.raises(InvalidInputError, match=r"invalid local key URI '\.\./etc/passwd'"):
        store.public_key_der("../etc/passwd")

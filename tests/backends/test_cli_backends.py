"""The CLI with every key backend: key create, import-ref, backend check and signing jobs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import boto3
import pkcs11
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Attribute, KeyType, ObjectClass

from backends.conftest import SoftHsm
from backends.kms_endpoint import kms_error, scripted_kms
from conftest import Cli, openssl_verifies
from firmseal.kms.base import KeySpec
from firmseal.kms.pkcs11 import Pkcs11Backend
from firmseal.kms.pkcs11_session import close_pools

BACKENDS = ["local", "pkcs11", "aws-kms"]
PLATFORMS = ["AmazonFreeRTOS-Default", "AWSIoTDeviceManagement-SHA256-ECDSA"]
# A CA key type per backend, so certificate signing runs through each backend's RSA path too.
CA_SPECS = {"local": "ECC_NIST_P384", "pkcs11": "RSA_2048", "aws-kms": "RSA_3072"}


@pytest.fixture
def pkcs11_env(softhsm: SoftHsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SoftHsm:
    pin_file = tmp_path / "pkcs11.pin"
    pin_file.write_text(softhsm.pin + "\n")
    pin_file.chmod(0o600)
    monkeypatch.setenv("FIRMSEAL_PKCS11_MODULE", str(softhsm.module))
    monkeypatch.setenv("FIRMSEAL_PKCS11_TOKEN", "firmseal-test")
    monkeypatch.setenv("FIRMSEAL_PKCS11_PIN_FILE", str(pin_file))
    monkeypatch.delenv("FIRMSEAL_PKCS11_PIN", raising=False)
    return softhsm


@pytest.fixture
def aws_env(kms_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", kms_url)
    monkeypatch.setenv("FIRMSEAL_KMS_REGION", "us-east-1")
    return kms_url


@pytest.fixture
def all_backends(pkcs11_env: SoftHsm, aws_env: str) -> None:
    """Configure the pkcs11 and aws-kms backends for the CLI."""


def _sign_with(fs: Cli, tmp_path: Path, firmware: Path, backend: str, platform: str) -> Path:
    """Create a key and CA in `backend`, a profile on `platform`, sign; return the out folder."""
    fs("key", "create", "release", "--spec", "ECC_NIST_P256", "--backend", backend)
    fs(
        "ca",
        "create",
        "acme",
        "--spec",
        CA_SPECS[backend],
        "--subject",
        "CN=Acme CA",
        "--backend",
        backend,
    )
    fs(
        "cert",
        "issue",
        "release-cert",
        "--ca",
        "acme",
        "--key",
        "release",
        "--subject",
        "CN=Acme Release",
        "--days",
        "365",
    )
    fs(
        "profile",
        "put",
        "fw",
        "--platform",
        platform,
        "--key",
        "release",
        "--certificate",
        "release-cert",
        "--param",
        "certname=/certs/signer.pem",
    )
    out = tmp_path / "out"
    out.mkdir()
    fs("sign", "--profile", "fw", str(firmware), "--out-dir", str(out))
    return out


@pytest.mark.usefixtures("all_backends")
@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_platform_signs_with_backend(
    fs: Cli, tmp_path: Path, firmware: Path, backend: str, platform: str
) -> None:
    out = _sign_with(fs, tmp_path, firmware, backend, platform)

    key = fs.json("key", "show", "release")
    assert key["backend"] == backend
    public_key = tmp_path / "release.pem"
    public_key.write_bytes(fs("key", "public-key", "release").stdout_bytes)
    signature = out / f"{firmware.name}.sig"
    assert openssl_verifies(public_key, signature, firmware)
    fs("verify", str(firmware), "--signature", str(signature), "--public-key", str(public_key))

    certificate = tmp_path / "release-cert.pem"
    certificate.write_text(fs("cert", "export", "release-cert").stdout)
    ca = tmp_path / "acme.pem"
    ca.write_text(fs("ca", "export", "acme").stdout)
    chain = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), str(certificate)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert chain.returncode == 0, chain.stdout + chain.stderr
    if platform == "AmazonFreeRTOS-Default":
        fs(
            "verify",
            str(firmware),
            "--signed-object",
            str(out / f"{firmware.name}.signed.json"),
            "--certificate",
            str(certificate),
            "--ca",
            str(ca),
        )

    tampered = tmp_path / "tampered.bin"
    data = bytearray(firmware.read_bytes())
    data[100] ^= 0x01
    tampered.write_bytes(bytes(data))
    assert not openssl_verifies(public_key, signature, tampered)
    fs(
        "verify",
        str(tampered),
        "--signature",
        str(signature),
        "--public-key",
        str(public_key),
        expect=1,
    )


@pytest.mark.usefixtures("all_backends")
@pytest.mark.parametrize("backend", BACKENDS)
def test_key_create_records_backend_and_uri(fs: Cli, backend: str) -> None:
    key = fs.json("key", "create", "k1", "--spec", "ECC_NIST_P384", "--backend", backend)
    assert key["backend"] == backend
    assert key["keySpec"] == "ECC_NIST_P384"
    prefix = {
        "local": "local:",
        "pkcs11": "pkcs11:token=firmseal-test;object=",
        "aws-kms": "arn:aws:kms:us-east-1:",
    }[backend]
    assert key["uri"].startswith(prefix)
    listed = fs.json("key", "list")["keys"]
    assert [(k["alias"], k["backend"], k["uri"]) for k in listed] == [("k1", backend, key["uri"])]


@pytest.mark.usefixtures("aws_env")
def test_key_create_ed25519_on_kms_rejected(fs: Cli) -> None:
    result = fs("key", "create", "k", "--spec", "ED25519", "--backend", "aws-kms", expect=2)
    assert "cannot create ED25519 keys" in result.stderr
    assert fs.json("key", "list")["keys"] == []


def test_key_create_unconfigured_pkcs11(fs: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIRMSEAL_PKCS11_MODULE", raising=False)
    result = fs("key", "create", "k", "--spec", "ECC_NIST_P256", "--backend", "pkcs11", expect=2)
    assert "FIRMSEAL_PKCS11_MODULE is not set" in result.stderr


def test_import_ref_conflicts_with_recorded_uri(fs: Cli, pkcs11_env: SoftHsm) -> None:
    created = fs.json("key", "create", "hsm-key", "--spec", "ED25519", "--backend", "pkcs11")
    label = created["uri"].split("object=")[1].split(";")[0]
    result = fs("key", "import-ref", "again", f"pkcs11:object={label}", expect=4)
    assert "already recorded as 'hsm-key'" in result.stderr


def _import_extractable_ec_key(softhsm: SoftHsm, label: str) -> None:
    """Store a P-256 key pair on the token with CKA_EXTRACTABLE true."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    point = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    value = private_key.private_numbers().private_value.to_bytes(32, "big")
    params = bytes.fromhex("06082a8648ce3d030107")
    common = {
        Attribute.TOKEN: True,
        Attribute.LABEL: label,
        Attribute.ID: label.encode(),
        Attribute.KEY_TYPE: KeyType.EC,
        Attribute.EC_PARAMS: params,
    }
    close_pools()
    token = pkcs11.lib(str(softhsm.module)).get_token(token_label="firmseal-test")
    with token.open(rw=True, user_pin=softhsm.pin) as session:
        session.create_object(
            common
            | {
                Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                Attribute.VALUE: value,
                Attribute.SIGN: True,
                Attribute.SENSITIVE: False,
                Attribute.EXTRACTABLE: True,
            }
        )
        session.create_object(
            common
            | {
                Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                Attribute.VERIFY: True,
                Attribute.EC_POINT: bytes([0x04, len(point)]) + point,
            }
        )


def test_import_ref_extractable_needs_flag(fs: Cli, pkcs11_env: SoftHsm) -> None:
    _import_extractable_ec_key(pkcs11_env, "cli-extractable")
    uri = "pkcs11:token=firmseal-test;object=cli-extractable"
    rejected = fs("key", "import-ref", "ext", uri, expect=2)
    assert "may exist outside the token (CKA_EXTRACTABLE is true;" in rejected.stderr
    assert "pass --allow-extractable to adopt it anyway" in rejected.stderr
    assert fs.json("key", "list")["keys"] == []

    accepted = fs("key", "import-ref", "ext", uri, "--allow-extractable", "--json")
    assert accepted.stderr == (
        f"warning: adopted PKCS#11 key {uri} although its private key may exist outside the "
        "token (CKA_EXTRACTABLE is true; CKA_SENSITIVE is false; CKA_NEVER_EXTRACTABLE is "
        "false, so it was imported or once extractable; CKA_ALWAYS_SENSITIVE is false, so it "
        "was imported or once readable)\n"
    )
    key = json.loads(accepted.stdout)
    assert key["backend"] == "pkcs11"
    assert key["keySpec"] == "ECC_NIST_P256"
    assert key["uri"] == uri + ";id=" + "".join(f"%{b:02X}" for b in b"cli-extractable") + (
        ";type=private"
    )


def test_import_ref_kms_alias_records_arn(
    fs: Cli, aws_env: str, tmp_path: Path, firmware: Path
) -> None:
    import boto3

    client = boto3.client("kms", region_name="us-east-1", endpoint_url=aws_env)
    arn = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    client.create_alias(AliasName="alias/cli-release", TargetKeyId=arn)

    key = fs.json("key", "import-ref", "release", "alias/cli-release")
    assert key["backend"] == "aws-kms"
    assert key["uri"] == arn
    fs(
        "profile",
        "put",
        "dm",
        "--platform",
        "AWSIoTDeviceManagement-SHA256-ECDSA",
        "--key",
        "release",
    )
    out = tmp_path / "out"
    out.mkdir()
    fs("sign", "--profile", "dm", str(firmware), "--out-dir", str(out))
    public_key = tmp_path / "release.pem"
    public_key.write_bytes(fs("key", "public-key", "release").stdout_bytes)
    assert openssl_verifies(public_key, out / f"{firmware.name}.sig", firmware)


def test_import_ref_generated_key_no_warning(fs: Cli, pkcs11_env: SoftHsm) -> None:
    created = Pkcs11Backend(pkcs11_env.config()).create_key(KeySpec.ECC_NIST_P256)
    close_pools()
    result = fs("key", "import-ref", "made", created.uri, "--json")
    assert result.stderr == ""
    assert json.loads(result.stdout)["uri"] == created.uri


@pytest.mark.parametrize(
    "uri",
    [
        "pkcs11:object=legacy;pin-value=2468",
        "pkcs11:object=legacy?pin-value=2468",
        "pkcs11:object=legacy;object=other;pin-value=2468",
    ],
)
def test_import_ref_pin_value_hidden(fs: Cli, pkcs11_env: SoftHsm, uri: str) -> None:
    result = fs("key", "import-ref", "x", uri, expect=2)
    assert result.stderr == (
        "error: PKCS#11 URI contains pin-value; firmseal does not accept PINs in key URIs. "
        "Remove it and set FIRMSEAL_PKCS11_PIN or FIRMSEAL_PKCS11_PIN_FILE instead\n"
    )
    assert "2468" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("key", "show", "pkcs11:object=legacy;pin-value=2468"), 3),
        (("key", "import-ref", "x", "pkcs12:object=legacy;pin-value=2468"), 2),
        (("key", "import-ref", "x", "alias/legacy;pin-value=2468"), 2),
    ],
)
def test_error_messages_redact_pin_value(
    fs: Cli, aws_env: str, args: tuple[str, ...], code: int
) -> None:
    result = fs(*args, expect=code)
    assert "pin-value=REDACTED" in result.stderr
    assert "2468" not in result.stdout + result.stderr


def test_import_ref_wrong_pin_exit_6(
    fs: Cli, pkcs11_env: SoftHsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = tmp_path / "wrong.pin"
    wrong.write_text("wrong-pin-0000")
    wrong.chmod(0o600)
    monkeypatch.setenv("FIRMSEAL_PKCS11_PIN_FILE", str(wrong))
    result = fs("key", "import-ref", "x", "pkcs11:object=any", expect=6)
    assert result.stderr == (
        "error: PKCS#11 token 'firmseal-test' rejected the user PIN (PinIncorrect); check "
        "FIRMSEAL_PKCS11_PIN or FIRMSEAL_PKCS11_PIN_FILE\n"
    )
    assert "wrong-pin-0000" not in result.stderr


def test_import_ref_kms_access_denied_exit_6(fs: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000"
    denial = kms_error("AccessDeniedException", "User ci is not authorized")
    with scripted_kms([denial]) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", server.url)
        result = fs("key", "import-ref", "x", arn, expect=6)
    assert server.requests == ["TrentService.DescribeKey"]
    assert result.stderr.startswith(
        f"error: AWS KMS denied access while describing the key for {arn}: User ci is not "
        "authorized; grant the caller"
    )


@pytest.mark.parametrize(("disable", "state"), [(True, "Disabled"), (False, "PendingDeletion")])
def test_import_ref_unusable_kms_key_rejected(
    fs: Cli, aws_env: str, disable: bool, state: str
) -> None:
    client = boto3.client("kms", region_name="us-east-1", endpoint_url=aws_env)
    created = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    arn = created["KeyMetadata"]["Arn"]
    key_id = created["KeyMetadata"]["KeyId"]
    if disable:
        client.disable_key(KeyId=key_id)
    else:
        client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    result = fs("key", "import-ref", "x", arn, expect=4)
    assert result.stderr == (
        f"error: AWS KMS key {arn} is {state}, not Enabled; enable it in AWS KMS (or cancel "
        "its deletion) and import it again\n"
    )
    assert fs.json("key", "list")["keys"] == []


def test_key_create_kms_aws_region_only(
    fs: Cli, kms_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", kms_url)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    key = fs.json("key", "create", "paris", "--spec", "ECC_NIST_P256", "--backend", "aws-kms")
    assert key["uri"].startswith("arn:aws:kms:eu-west-3:")
    rows = {row["backend"]: row for row in fs.json("backend", "check")["backends"]}
    assert rows["aws-kms"]["reachable"] is True
    assert "AWS KMS in eu-west-3 at" in rows["aws-kms"]["detail"]


def test_import_ref_unknown_uri_form(fs: Cli) -> None:
    result = fs("key", "import-ref", "x", "file:///tmp/key.pem", expect=2)
    assert "names no known backend" in result.stderr


def test_import_ref_missing_pkcs11_key(fs: Cli, pkcs11_env: SoftHsm) -> None:
    result = fs("key", "import-ref", "x", "pkcs11:object=absent-key", expect=3)
    assert "no private key matches" in result.stderr


def test_backend_check_unconfigured(fs: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FIRMSEAL_PKCS11_MODULE", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    rows = {row["backend"]: row for row in fs.json("backend", "check")["backends"]}
    assert list(rows) == BACKENDS
    assert rows["local"]["reachable"] is True
    assert rows["pkcs11"]["configured"] is False
    assert rows["aws-kms"]["configured"] is False
    assert "not configured" in rows["aws-kms"]["detail"]


@pytest.mark.usefixtures("all_backends")
def test_backend_check_all_reachable(fs: Cli, aws_env: str) -> None:
    result = fs("backend", "check", "--json")
    rows = {row["backend"]: row for row in json.loads(result.stdout)["backends"]}
    assert all(row["reachable"] for row in rows.values()), rows
    assert "'firmseal-test'" in rows["pkcs11"]["detail"]
    assert aws_env in rows["aws-kms"]["detail"]


def test_backend_check_wrong_pin_fails(
    fs: Cli, pkcs11_env: SoftHsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = tmp_path / "wrong.pin"
    wrong.write_text("wrong-pin-0000")
    wrong.chmod(0o600)
    monkeypatch.setenv("FIRMSEAL_PKCS11_PIN_FILE", str(wrong))
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    result = fs("backend", "check", "--json", expect=5)
    rows = {row["backend"]: row for row in json.loads(result.stdout)["backends"]}
    assert "key backends unreachable: pkcs11" in result.stderr
    assert rows["pkcs11"]["reachable"] is False
    assert "rejected the user PIN" in rows["pkcs11"]["detail"]
    assert rows["aws-kms"]["configured"] is False
    assert "wrong-pin-0000" not in result.stdout + result.stderr

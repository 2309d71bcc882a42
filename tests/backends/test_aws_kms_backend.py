"""The aws-kms backend against a local KMS-compatible endpoint on 127.0.0.1."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import boto3
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from backends.kms_endpoint import kms_error, scripted_kms
from backends.signatures import device_verify, digest_for, openssl_verify
from firmseal.device.errors import SignatureMismatchError
from firmseal.errors import (
    AccessDeniedError,
    BackendError,
    ConflictError,
    InvalidInputError,
    KeyStoreError,
    NotFoundError,
)
from firmseal.kms import software
from firmseal.kms.aws_kms import AwsKmsBackend
from firmseal.kms.aws_kms_config import AwsKmsConfig, is_configured
from firmseal.kms.base import KeyBackend, KeySpec, KeyState, SignatureScheme

ARN_PREFIX = "arn:aws:kms:us-east-1:123456789012:key/"
MISSING_ARN = ARN_PREFIX + "00000000-0000-4000-8000-000000000000"
SIGNING_CASES = [
    (KeySpec.ECC_NIST_P256, SignatureScheme.ECDSA_SHA256),
    (KeySpec.ECC_NIST_P384, SignatureScheme.ECDSA_SHA384),
    (KeySpec.RSA_2048, SignatureScheme.RSA_PSS_SHA256),
    (KeySpec.RSA_3072, SignatureScheme.RSA_PSS_SHA256),
    (KeySpec.RSA_3072, SignatureScheme.RSA_PSS_SHA384),
    (KeySpec.RSA_3072, SignatureScheme.RSA_PKCS1_SHA256),
    (KeySpec.RSA_3072, SignatureScheme.RSA_PKCS1_SHA384),
]


@pytest.fixture
def kms_env(kms_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Route botocore to the local endpoint through its own KMS endpoint variable."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", kms_url)
    return kms_url


@pytest.fixture
def backend(kms_env: str) -> AwsKmsBackend:
    return AwsKmsBackend(AwsKmsConfig())


@pytest.fixture
def kms_client(kms_env: str) -> object:
    return boto3.client("kms", region_name="us-east-1", endpoint_url=kms_env)


class RecordedSleep:
    """Stands in for time.sleep and records each requested delay."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _signature_b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode()


def test_backend_satisfies_protocol(backend: AwsKmsBackend) -> None:
    assert isinstance(backend, KeyBackend)
    assert backend.name == "aws-kms"


@pytest.mark.parametrize("spec", [s for s in KeySpec if s is not KeySpec.ED25519])
def test_create_key_returns_arn(backend: AwsKmsBackend, spec: KeySpec) -> None:
    created = backend.create_key(spec)
    assert created.uri.startswith(ARN_PREFIX)
    assert created.spec is spec
    public_key = serialization.load_der_public_key(created.public_key_der)
    assert software.spec_of_public_key(public_key) is spec
    assert backend.key_state(created.uri) is KeyState.ENABLED


@pytest.mark.parametrize(("spec", "scheme"), SIGNING_CASES)
def test_signature_verifies_independently(
    backend: AwsKmsBackend, tmp_path: Path, spec: KeySpec, scheme: SignatureScheme
) -> None:
    created = backend.create_key(spec)
    digest = digest_for(scheme, b"firmware for " + spec.value.encode())
    signature = backend.sign_digest(created.uri, digest, scheme)

    result = openssl_verify(tmp_path, created.public_key_der, signature, digest, scheme)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Signature Verified Successfully" in result.stdout
    device_verify(created.public_key_der, signature, digest, scheme)

    other = digest_for(scheme, b"tampered firmware")
    assert openssl_verify(tmp_path, created.public_key_der, signature, other, scheme).returncode
    with pytest.raises((SignatureMismatchError, InvalidSignature)):
        device_verify(created.public_key_der, signature, other, scheme)


def test_endpoint_verify_agrees(backend: AwsKmsBackend, kms_client: object) -> None:
    """The endpoint's own Verify with DIGEST accepts what the backend signed."""
    created = backend.create_key(KeySpec.ECC_NIST_P256)
    digest = digest_for(SignatureScheme.ECDSA_SHA256, b"image")
    signature = backend.sign_digest(created.uri, digest, SignatureScheme.ECDSA_SHA256)
    response = kms_client.verify(  # type: ignore[attr-defined]
        KeyId=created.uri,
        Message=digest,
        MessageType="DIGEST",
        Signature=signature,
        SigningAlgorithm="ECDSA_SHA_256",
    )
    assert response["SignatureValid"] is True


def test_ed25519_unsupported(backend: AwsKmsBackend) -> None:
    with pytest.raises(InvalidInputError, match="cannot create ED25519 keys"):
        backend.create_key(KeySpec.ED25519)
    with pytest.raises(InvalidInputError, match="cannot make ED25519 signatures"):
        backend.sign_digest(MISSING_ARN, bytes(32), SignatureScheme.ED25519)


def test_scheme_not_fitting_key(backend: AwsKmsBackend) -> None:
    created = backend.create_key(KeySpec.ECC_NIST_P256)
    with pytest.raises(InvalidInputError, match="AWS KMS rejected signing"):
        backend.sign_digest(created.uri, bytes(32), SignatureScheme.RSA_PSS_SHA256)


def test_adopt_by_alias_resolves_arn(backend: AwsKmsBackend, kms_client: object) -> None:
    created = backend.create_key(KeySpec.ECC_NIST_P384)
    kms_client.create_alias(AliasName="alias/fw-release", TargetKeyId=created.uri)  # type: ignore[attr-defined]
    adopted = backend.adopt_key("alias/fw-release")
    assert adopted.uri == created.uri
    assert adopted.spec is KeySpec.ECC_NIST_P384
    assert adopted.public_key_der == created.public_key_der
    by_alias_arn = backend.adopt_key("arn:aws:kms:us-east-1:123456789012:alias/fw-release")
    assert by_alias_arn.uri == created.uri


def test_alias_signs(backend: AwsKmsBackend, kms_client: object) -> None:
    created = backend.create_key(KeySpec.ECC_NIST_P256)
    kms_client.create_alias(AliasName="alias/fw-direct", TargetKeyId=created.uri)  # type: ignore[attr-defined]
    digest = digest_for(SignatureScheme.ECDSA_SHA256, b"via alias")
    signature = backend.sign_digest("alias/fw-direct", digest, SignatureScheme.ECDSA_SHA256)
    device_verify(created.public_key_der, signature, digest, SignatureScheme.ECDSA_SHA256)


def test_adopt_symmetric_key_rejected(backend: AwsKmsBackend, kms_client: object) -> None:
    arn = kms_client.create_key()["KeyMetadata"]["Arn"]  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError, match="SIGN_VERIFY"):
        backend.adopt_key(arn)


def test_key_state_follows_kms(backend: AwsKmsBackend, kms_client: object) -> None:
    arn = backend.create_key(KeySpec.ECC_NIST_P256).uri
    key_id = arn.rsplit("/", 1)[-1]  # moto's DisableKey accepts only the bare key id
    kms_client.disable_key(KeyId=key_id)  # type: ignore[attr-defined]
    assert backend.key_state(arn) is KeyState.DISABLED
    kms_client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)  # type: ignore[attr-defined]
    assert backend.key_state(arn) is KeyState.PENDING_DELETION


def test_unknown_key_not_found(backend: AwsKmsBackend) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        backend.key_state(MISSING_ARN)
    with pytest.raises(NotFoundError):
        backend.public_key_der(MISSING_ARN)


@pytest.mark.parametrize(
    "uri",
    [
        "local:1234",
        "arn:aws:s3:::bucket",
        "arn:aws:kms:us-east-1:1234:key/x",
        "alias/",
        "alias/a b",
    ],
)
def test_invalid_key_name_rejected(backend: AwsKmsBackend, uri: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid AWS KMS key"):
        backend.key_state(uri)


def test_region_honoured(kms_env: str) -> None:
    backend = AwsKmsBackend(AwsKmsConfig(region="eu-west-1"))
    created = backend.create_key(KeySpec.ECC_NIST_P256)
    assert created.uri.startswith("arn:aws:kms:eu-west-1:")
    # A backend whose default region differs still signs, because the ARN names the region.
    other = AwsKmsBackend(AwsKmsConfig(region="us-east-1"))
    digest = digest_for(SignatureScheme.ECDSA_SHA256, b"cross-region")
    signature = other.sign_digest(created.uri, digest, SignatureScheme.ECDSA_SHA256)
    device_verify(created.public_key_der, signature, digest, SignatureScheme.ECDSA_SHA256)


def test_region_from_environment(kms_env: str) -> None:
    config = AwsKmsConfig.from_env({"FIRMSEAL_KMS_REGION": "ap-southeast-2"})
    assert config.region == "ap-southeast-2"
    created = AwsKmsBackend(config).create_key(KeySpec.ECC_NIST_P256)
    assert created.uri.startswith("arn:aws:kms:ap-southeast-2:")


def test_check_reports_endpoint(backend: AwsKmsBackend, kms_env: str) -> None:
    status = backend.check()
    assert status.backend == "aws-kms"
    assert status.reachable is True
    assert kms_env in status.detail
    assert "us-east-1" in status.detail


def test_check_unreachable_endpoint() -> None:
    # The autouse fixture points AWS_ENDPOINT_URL at a closed loopback port.
    status = AwsKmsBackend(AwsKmsConfig()).check()
    assert status.reachable is False
    assert "AWS KMS request failed" in status.detail


def test_access_denied_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    denial = kms_error("AccessDeniedException", "User ci is not authorized to perform kms:Sign")
    sleep = RecordedSleep()
    with scripted_kms([denial]) as server:
        config = AwsKmsConfig(endpoint_url=server.url, max_attempts=4, base_delay=1, max_delay=3)
        backend = AwsKmsBackend(config, sleep=sleep)
        with (
            caplog.at_level(logging.WARNING, logger="firmseal.kms.aws_kms"),
            pytest.raises(AccessDeniedError) as caught,
        ):
            backend.sign_digest(MISSING_ARN, bytes(32), SignatureScheme.ECDSA_SHA256)
    message = str(caught.value)
    assert message.startswith(f"AWS KMS denied access while signing for {MISSING_ARN}: ")
    assert "not authorized to perform kms:Sign" in message
    assert "grant the caller kms:Sign" in message
    assert server.requests == ["TrentService.Sign"]
    assert sleep.delays == []
    assert [r for r in caplog.records if r.levelno == logging.WARNING] == []


def test_throttling_backoff_bounded() -> None:
    sleep = RecordedSleep()
    with scripted_kms([kms_error("ThrottlingException", "Rate exceeded")]) as server:
        config = AwsKmsConfig(endpoint_url=server.url, max_attempts=4, base_delay=1, max_delay=3)
        backend = AwsKmsBackend(config, sleep=sleep)
        with pytest.raises(BackendError, match=r"ThrottlingException .* after 4 attempts"):
            backend.sign_digest(MISSING_ARN, bytes(32), SignatureScheme.ECDSA_SHA256)
    assert server.requests == ["TrentService.Sign"] * 4
    assert len(sleep.delays) == 3
    for attempt, delay in enumerate(sleep.delays, start=1):
        step = min(3.0, 1.0 * 2 ** (attempt - 1))
        assert step / 2 <= delay <= step


def test_throttling_then_success() -> None:
    throttled = kms_error("ThrottlingException", "Rate exceeded")
    success = (
        200,
        {
            "KeyId": MISSING_ARN,
            "Signature": _signature_b64(b"\x30\x06\x02\x01\x01\x02\x01\x01"),
            "SigningAlgorithm": "ECDSA_SHA_256",
        },
    )
    sleep = RecordedSleep()
    with scripted_kms([throttled, throttled, success]) as server:
        backend = AwsKmsBackend(AwsKmsConfig(endpoint_url=server.url), sleep=sleep)
        signature = backend.sign_digest(MISSING_ARN, bytes(32), SignatureScheme.ECDSA_SHA256)
    assert signature == b"\x30\x06\x02\x01\x01\x02\x01\x01"
    assert len(server.requests) == 3
    assert len(sleep.delays) == 2


def test_throttling_exhausts_attempts() -> None:
    sleep = RecordedSleep()
    with scripted_kms([kms_error("ThrottlingException", "Rate exceeded")]) as server:
        backend = AwsKmsBackend(AwsKmsConfig(endpoint_url=server.url, max_attempts=3), sleep=sleep)
        with pytest.raises(BackendError, match=r"ThrottlingException .* after 3 attempts"):
            backend.public_key_der(MISSING_ARN)
    assert server.requests == ["TrentService.GetPublicKey"] * 3
    assert len(sleep.delays) == 2


def test_validation_error_not_retried() -> None:
    sleep = RecordedSleep()
    with scripted_kms([kms_error("ValidationException", "bad digest length")]) as server:
        backend = AwsKmsBackend(AwsKmsConfig(endpoint_url=server.url), sleep=sleep)
        with pytest.raises(InvalidInputError, match="bad digest length"):
            backend.sign_digest(MISSING_ARN, bytes(32), SignatureScheme.ECDSA_SHA256)
    assert len(server.requests) == 1
    assert sleep.delays == []


def test_disabled_key_not_retried() -> None:
    # moto 5.2 signs with disabled keys, so this reply comes from the scripted endpoint.
    disabled = kms_error("DisabledException", f"{MISSING_ARN} is disabled.")
    sleep = RecordedSleep()
    with scripted_kms([disabled]) as server:
        backend = AwsKmsBackend(AwsKmsConfig(endpoint_url=server.url), sleep=sleep)
        with pytest.raises(KeyStoreError, match="cannot be used now: DisabledException"):
            backend.sign_digest(MISSING_ARN, bytes(32), SignatureScheme.ECDSA_SHA256)
    assert len(server.requests) == 1
    assert sleep.delays == []


def test_missing_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with scripted_kms([kms_error("ValidationException", "unused")]) as server:
        backend = AwsKmsBackend(AwsKmsConfig(endpoint_url=server.url))
        with pytest.raises(BackendError, match="no AWS credentials found"):
            backend.public_key_der(MISSING_ARN)
    assert server.requests == []


def test_missing_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(BackendError) as caught:
        AwsKmsBackend(AwsKmsConfig()).create_key(KeySpec.ECC_NIST_P256)
    assert str(caught.value) == (
        "no AWS region configured for AWS KMS; set FIRMSEAL_KMS_REGION, AWS_REGION or "
        "AWS_DEFAULT_REGION, or name the key by its key ARN"
    )


def test_region_from_aws_region(kms_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore itself reads only AWS_DEFAULT_REGION, which the CLI and the SDKs do not need.
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    backend = AwsKmsBackend()
    created = backend.create_key(KeySpec.ECC_NIST_P256)
    assert created.uri.startswith("arn:aws:kms:eu-central-1:")
    assert "AWS KMS in eu-central-1 at" in backend.check().detail


@pytest.mark.parametrize(
    ("environ", "region"),
    [
        ({"AWS_DEFAULT_REGION": "us-west-2"}, "us-west-2"),
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}, "eu-west-1"),
        (
            {
                "FIRMSEAL_KMS_REGION": "ap-south-1",
                "AWS_REGION": "eu-west-1",
                "AWS_DEFAULT_REGION": "us-west-2",
            },
            "ap-south-1",
        ),
        ({}, None),
    ],
)
def test_region_precedence(environ: dict[str, str], region: str | None) -> None:
    assert AwsKmsConfig.from_env(environ).region == region


def test_key_arn_region_beats_aws_region(kms_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    created = AwsKmsBackend(AwsKmsConfig(region="sa-east-1")).create_key(KeySpec.ECC_NIST_P256)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert AwsKmsBackend().key_state(created.uri) is KeyState.ENABLED


@pytest.mark.parametrize(("disable", "state"), [(True, "Disabled"), (False, "PendingDeletion")])
def test_adopt_unusable_key_rejected(
    backend: AwsKmsBackend, kms_client: object, disable: bool, state: str
) -> None:
    arn = backend.create_key(KeySpec.ECC_NIST_P256).uri
    key_id = arn.rsplit("/", 1)[-1]
    if disable:
        kms_client.disable_key(KeyId=key_id)  # type: ignore[attr-defined]
    else:
        kms_client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)  # type: ignore[attr-defined]
    with pytest.raises(ConflictError) as caught:
        backend.adopt_key(arn)
    assert str(caught.value) == (
        f"AWS KMS key {arn} is {state}, not Enabled; enable it in AWS KMS (or cancel its "
        "deletion) and import it again"
    )


def test_invalid_key_name_hides_pin(backend: AwsKmsBackend) -> None:
    with pytest.raises(InvalidInputError) as caught:
        backend.key_state("alias/fw;pin-value=2468")
    assert "2468" not in str(caught.value)
    assert "'alias/fw;pin-value=REDACTED'" in str(caught.value)


def test_is_configured() -> None:
    assert is_configured({}) is False
    assert is_configured({"AWS_REGION": "eu-west-1"}) is True
    assert is_configured({"AWS_ENDPOINT_URL_KMS": "http://127.0.0.1:4566"}) is True
    assert is_configured({"FIRMSEAL_KMS_REGION": "eu-west-1"}) is True


@pytest.mark.parametrize("value", ["0", "21", "many"])
def test_invalid_max_attempts(value: str) -> None:
    with pytest.raises(InvalidInputError, match="FIRMSEAL_KMS_MAX_ATTEMPTS"):
        AwsKmsConfig.from_env({"FIRMSEAL_KMS_MAX_ATTEMPTS": value})

"""The `aws-kms` backend: asymmetric SIGN_VERIFY keys in AWS KMS, reached through boto3.

Keys are named by key ARNs (`arn:aws:kms:REGION:ACCOUNT:key/ID`), alias ARNs or `alias/NAME`.
Signing sends only the digest (MessageType DIGEST), so the firmware never leaves the host.
Credentials come from the standard AWS chain (environment, shared files, SSO, instance role).
The endpoint follows botocore's AWS_ENDPOINT_URL_KMS and AWS_ENDPOINT_URL variables unless
the configuration sets one, which is how tests reach a local KMS-compatible server.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from firmseal.device.mcuboot_layout import with_article
from firmseal.errors import (
    AccessDeniedError,
    BackendError,
    ConflictError,
    InvalidInputError,
    KeyStoreError,
    NotFoundError,
)
from firmseal.kms.aws_kms_config import AwsKmsConfig
from firmseal.kms.aws_kms_uri import is_kms_uri, region_of
from firmseal.kms.base import BackendStatus, CreatedKey, KeySpec, KeyState, SignatureScheme
from firmseal.kms.pkcs11_uri import redact_pin_values

if TYPE_CHECKING:
    from mypy_boto3_kms.client import KMSClient
    from mypy_boto3_kms.literals import KeySpecType, SigningAlgorithmSpecType

log = logging.getLogger(__name__)

T = TypeVar("T")

# Errors worth waiting out: throttling and internal errors clear within seconds. An
# AccessDeniedException is not retried, because a missing grant rarely appears while a
# command waits, and retrying only delays the error.
RETRYABLE_ERRORS = frozenset({"ThrottlingException", "KMSInternalException"})
_INVALID_INPUT_ERRORS = frozenset(
    {
        "InvalidKeyUsageException",
        "ValidationException",
        "UnsupportedOperationException",
        "InvalidArnException",
        "IncorrectKeyException",
    }
)
_UNUSABLE_KEY_ERRORS = frozenset({"DisabledException", "KMSInvalidStateException"})

_KEY_SPECS: dict[KeySpec, KeySpecType] = {
    KeySpec.ECC_NIST_P256: "ECC_NIST_P256",
    KeySpec.ECC_NIST_P384: "ECC_NIST_P384",
    KeySpec.RSA_2048: "RSA_2048",
    KeySpec.RSA_3072: "RSA_3072",
}
_SIGNING_ALGORITHMS: dict[SignatureScheme, SigningAlgorithmSpecType] = {
    SignatureScheme.ECDSA_SHA256: "ECDSA_SHA_256",
    SignatureScheme.ECDSA_SHA384: "ECDSA_SHA_384",
    SignatureScheme.RSA_PSS_SHA256: "RSASSA_PSS_SHA_256",
    SignatureScheme.RSA_PSS_SHA384: "RSASSA_PSS_SHA_384",
    SignatureScheme.RSA_PKCS1_SHA256: "RSASSA_PKCS1_V1_5_SHA_256",
    SignatureScheme.RSA_PKCS1_SHA384: "RSASSA_PKCS1_V1_5_SHA_384",
}
_KEY_STATES = {
    "Enabled": KeyState.ENABLED,
    "PendingDeletion": KeyState.PENDING_DELETION,
    "PendingReplicaDeletion": KeyState.PENDING_DELETION,
}


ClientFactory = Callable[[str | None], "KMSClient"]


class AwsKmsBackend:
    """Keys in AWS KMS. Safe to share between threads: boto3 clients are thread-safe."""

    name = "aws-kms"

    def __init__(
        self,
        config: AwsKmsConfig | None = None,
        client_factory: ClientFactory | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config or AwsKmsConfig.from_env()
        self._client_factory = client_factory or self._new_client
        self._sleep = sleep
        self._clients: dict[str | None, KMSClient] = {}
        self._public_keys: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None

    def create_key(self, spec: KeySpec) -> CreatedKey:
        """Create a SIGN_VERIFY key in the configured region."""
        key_spec = _KEY_SPECS.get(spec)
        if key_spec is None:
            supported = ", ".join(sorted(_KEY_SPECS))
            raise InvalidInputError(
                f"the aws-kms backend cannot create {spec} keys; supported: {supported}"
            )
        client = self._client(None)
        response = self._call(
            f"creating {with_article(spec)} key",
            "new key",
            lambda: client.create_key(
                KeySpec=key_spec,
                KeyUsage="SIGN_VERIFY",
                Description="firmseal code-signing key",
            ),
        )
        arn = response["KeyMetadata"]["Arn"]
        log.info("created AWS KMS %s key %s", spec, arn)
        return CreatedKey(arn, spec, self.public_key_der(arn))

    def adopt_key(self, uri: str) -> CreatedKey:
        """Check an existing key (by ARN or alias) and return it under its key ARN.

        An alias is resolved now, so a later change of the alias cannot swap the key that
        profiles recorded with this public key. A key that is not Enabled raises
        ConflictError, because KMS signs only with Enabled keys.
        """
        metadata = self._describe(uri)
        state = metadata.get("KeyState", "")
        if state != "Enabled":
            raise ConflictError(
                f"AWS KMS key {uri} is {state}, not Enabled; enable it in AWS KMS (or cancel "
                "its deletion) and import it again"
            )
        if metadata.get("KeyUsage") != "SIGN_VERIFY":
            raise InvalidInputError(
                f"AWS KMS key {uri} has KeyUsage {metadata.get('KeyUsage')}; firmseal needs "
                "a SIGN_VERIFY key"
            )
        kms_spec = metadata.get("KeySpec", "")
        spec = next((ours for ours, theirs in _KEY_SPECS.items() if theirs == kms_spec), None)
        if spec is None:
            raise InvalidInputError(
                f"AWS KMS key {uri} has KeySpec {kms_spec}; firmseal signs with "
                f"{', '.join(sorted(_KEY_SPECS))}"
            )
        arn = metadata["Arn"]
        log.info("adopted AWS KMS %s key %s (named %s)", spec, arn, uri)
        return CreatedKey(arn, spec, self.public_key_der(arn))

    def public_key_der(self, uri: str) -> bytes:
        with self._lock:
            cached = self._public_keys.get(uri)
        if cached is not None:
            return cached
        client = self._client_for(uri)
        response = self._call(
            "reading the public key", uri, lambda: client.get_public_key(KeyId=uri)
        )
        der = response["PublicKey"]
        if ":key/" in uri:
            # Only key ARNs are cached: an alias may be pointed at another key later.
            with self._lock:
                self._public_keys[uri] = der
        return der

    def sign_digest(self, uri: str, digest: bytes, scheme: SignatureScheme) -> bytes:
        """Sign with MessageType DIGEST; KMS returns DER for ECDSA."""
        algorithm = _SIGNING_ALGORITHMS.get(scheme)
        if algorithm is None:
            raise InvalidInputError(f"the aws-kms backend cannot make {scheme} signatures")
        client = self._client_for(uri)
        response = self._call(
            "signing",
            uri,
            lambda: client.sign(
                KeyId=uri, Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm
            ),
        )
        return response["Signature"]

    def key_state(self, uri: str) -> KeyState:
        """Map the KMS KeyState; states other than Enabled and pending deletion are Disabled."""
        return _KEY_STATES.get(self._describe(uri)["KeyState"], KeyState.DISABLED)

    def check(self) -> BackendStatus:
        """List one key to prove that the endpoint responds and accepts the credentials."""
        try:
            client = self._client(None)
            self._call("the health check", "ListKeys", lambda: client.list_keys(Limit=1), 1)
        except (AccessDeniedError, BackendError, InvalidInputError) as exc:
            return BackendStatus(self.name, False, str(exc))
        endpoint = client.meta.endpoint_url
        return BackendStatus(
            self.name, True, f"AWS KMS in {client.meta.region_name} at {endpoint} answered"
        )

    def _describe(self, uri: str) -> dict[str, str]:
        client = self._client_for(uri)
        response = self._call("describing the key", uri, lambda: client.describe_key(KeyId=uri))
        metadata = response["KeyMetadata"]
        return {name: str(value) for name, value in metadata.items()}

    def _client_for(self, uri: str) -> KMSClient:
        if not is_kms_uri(uri):
            raise InvalidInputError(
                f"invalid AWS KMS key {redact_pin_values(uri)!r}; expected "
                "arn:aws:kms:REGION:ACCOUNT:key/ID, an alias ARN, or alias/NAME"
            )
        return self._client(region_of(uri))

    def _client(self, region: str | None) -> KMSClient:
        """Return the client for `region` (None: the configured or default region)."""
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                client = self._clients[region] = self._client_factory(region)
            return client

    def _new_client(self, region: str | None) -> KMSClient:
        """Create a client without botocore's own retries, which `_call` replaces.

        The caller has acquired `self._lock`, because boto3 sessions are not thread-safe.
        """
        if self._session is None:
            self._session = boto3.session.Session()
        retries: botocore.config._RetryDict = {"total_max_attempts": 1, "mode": "standard"}
        settings = botocore.config.Config(connect_timeout=5, read_timeout=30, retries=retries)
        try:
            return self._session.client(
                "kms",
                region_name=region or self._config.region,
                endpoint_url=self._config.endpoint_url,
                config=settings,
            )
        except botocore.exceptions.NoRegionError:
            raise BackendError(
                "no AWS region configured for AWS KMS; set FIRMSEAL_KMS_REGION, AWS_REGION or "
                "AWS_DEFAULT_REGION, or name the key by its key ARN"
            ) from None

    def _call(
        self, action: str, key: str, request: Callable[[], T], max_attempts: int | None = None
    ) -> T:
        """Run one KMS request, retrying throttling and internal errors with backoff."""
        attempts = max_attempts or self._config.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                return request()
            except botocore.exceptions.ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "Unknown")
                if code not in RETRYABLE_ERRORS or attempt == attempts:
                    raise _client_error(exc, action, key, attempt) from exc
                delay = self._delay(attempt)
                log.warning(
                    "AWS KMS returned %s while %s for %s (attempt %d of %d); retrying in %.2f s",
                    code,
                    action,
                    key,
                    attempt,
                    attempts,
                    delay,
                )
                self._sleep(delay)
            except botocore.exceptions.NoCredentialsError:
                raise BackendError(
                    "no AWS credentials found for AWS KMS; configure the standard AWS "
                    "credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO or an instance role)"
                ) from None
            except botocore.exceptions.BotoCoreError as exc:
                raise BackendError(
                    f"AWS KMS request failed while {action} for {key}: {exc}"
                ) from exc
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: half the step fixed, half random."""
        step = min(self._config.max_delay, self._config.base_delay * 2.0 ** (attempt - 1))
        return step / 2 + random.uniform(0, step / 2)  # noqa: S311 (jitter, not a secret)


def _client_error(
    exc: botocore.exceptions.ClientError, action: str, key: str, attempts: int
) -> Exception:
    error = exc.response.get("Error", {})
    code = error.get("Code", "Unknown")
    message = error.get("Message", "")
    if code == "NotFoundException":
        return NotFoundError(f"AWS KMS key {key} not found: {message}")
    if code in _INVALID_INPUT_ERRORS:
        return InvalidInputError(f"AWS KMS rejected {action} for {key}: {code}: {message}")
    if code in _UNUSABLE_KEY_ERRORS:
        return KeyStoreError(f"AWS KMS key {key} cannot be used now: {code}: {message}")
    if code == "AccessDeniedException":
        return AccessDeniedError(
            f"AWS KMS denied access while {action} for {key}: {message}; grant the caller "
            "kms:Sign, kms:GetPublicKey and kms:DescribeKey on the key"
        )
    if code in RETRYABLE_ERRORS:
        return BackendError(
            f"AWS KMS returned {code} while {action} for {key} after {attempts} attempts: "
            f"{message}"
        )
    return BackendError(f"AWS KMS failed while {action} for {key}: {code}: {message}")

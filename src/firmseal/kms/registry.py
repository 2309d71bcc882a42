"""Choose the key backend for a key URI, and build each backend on first use.

The pkcs11 and aws-kms modules are imported only when a key needs them, so a workspace
without an HSM or AWS account never loads a PKCS#11 module, imports boto3 or contacts AWS.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping

from firmseal.errors import FirmsealError, InvalidInputError
from firmseal.kms import aws_kms_config, pkcs11_config
from firmseal.kms.aws_kms_uri import looks_like_kms_uri
from firmseal.kms.base import BackendStatus, CreatedKey, KeyBackend
from firmseal.kms.pkcs11_uri import redact_pin_values

log = logging.getLogger(__name__)

LOCAL = "local"
PKCS11 = "pkcs11"
AWS_KMS = "aws-kms"
BACKEND_NAMES = (LOCAL, PKCS11, AWS_KMS)

BackendFactory = Callable[[], KeyBackend]


def backend_name_for_uri(uri: str) -> str:
    """Return `local`, `pkcs11` or `aws-kms` from the form of `uri`."""
    if uri.startswith("local:"):
        return LOCAL
    if uri[:7].lower() == "pkcs11:":
        return PKCS11
    if looks_like_kms_uri(uri):
        return AWS_KMS
    raise InvalidInputError(
        f"key URI {redact_pin_values(uri)!r} names no known backend; expected local:ID, an "
        "RFC 7512 pkcs11: URI, an AWS KMS key ARN (arn:aws:kms:...) or alias/NAME"
    )


class BackendRegistry:
    """The key backends of one workspace, each built once and shared between threads."""

    def __init__(
        self,
        local: BackendFactory,
        environ: Mapping[str, str] | None = None,
        factories: Mapping[str, BackendFactory] | None = None,
    ) -> None:
        self._environ = os.environ if environ is None else environ
        self._factories: dict[str, BackendFactory] = {
            LOCAL: local,
            PKCS11: self._new_pkcs11,
            AWS_KMS: self._new_aws_kms,
            **(factories or {}),
        }
        self._backends: dict[str, KeyBackend] = {}
        self._lock = threading.Lock()

    def backend(self, name: str) -> KeyBackend:
        """Return the backend called `name`, building it on first use."""
        if name not in BACKEND_NAMES:
            raise InvalidInputError(
                f"unknown key backend {name!r}; expected one of {', '.join(BACKEND_NAMES)}"
            )
        with self._lock:
            backend = self._backends.get(name)
            if backend is None:
                backend = self._backends[name] = self._factories[name]()
                log.info("opened key backend %s", name)
            return backend

    def backend_for_uri(self, uri: str) -> KeyBackend:
        return self.backend(backend_name_for_uri(uri))

    def adopt(self, uri: str, allow_extractable: bool = False) -> tuple[str, CreatedKey]:
        """Check an existing key named by `uri`; return its backend name and canonical form.

        `allow_extractable` only matters for PKCS#11, the one backend whose keys may be
        marked exportable.
        """
        name = backend_name_for_uri(uri)
        backend = self.backend(name)
        if name == PKCS11:
            from firmseal.kms.pkcs11 import Pkcs11Backend

            if isinstance(backend, Pkcs11Backend):
                return name, backend.adopt_key(uri, allow_extractable=allow_extractable)
        adopt_key: Callable[[str], CreatedKey] | None = getattr(backend, "adopt_key", None)
        if adopt_key is None:
            raise InvalidInputError(f"the {name} backend cannot adopt existing keys")
        return name, adopt_key(uri)

    def check(self) -> list[BackendStatus]:
        """Report each backend; an unconfigured optional backend is reported, not contacted."""
        return [self._check_one(name) for name in BACKEND_NAMES]

    def _check_one(self, name: str) -> BackendStatus:
        unconfigured = self._unconfigured_reason(name)
        if unconfigured is not None:
            return BackendStatus(name, False, unconfigured, configured=False)
        try:
            backend = self.backend(name)
        except FirmsealError as exc:
            return BackendStatus(name, False, str(exc))
        check: Callable[[], BackendStatus] | None = getattr(backend, "check", None)
        if check is None:
            return BackendStatus(name, True, "backend has no health check")
        return check()

    def _unconfigured_reason(self, name: str) -> str | None:
        with self._lock:
            if name in self._backends or name == LOCAL:
                return None
        if name == PKCS11 and not pkcs11_config.is_configured(self._environ):
            return (
                "not configured: set FIRMSEAL_PKCS11_MODULE, FIRMSEAL_PKCS11_TOKEN and "
                "FIRMSEAL_PKCS11_PIN_FILE (or FIRMSEAL_PKCS11_PIN)"
            )
        if name == AWS_KMS and not aws_kms_config.is_configured(self._environ):
            return (
                "not configured: set FIRMSEAL_KMS_REGION, AWS_REGION or AWS_DEFAULT_REGION "
                "(and AWS credentials) to use AWS KMS"
            )
        return None

    def _new_pkcs11(self) -> KeyBackend:
        from firmseal.kms.pkcs11 import Pkcs11Backend

        return Pkcs11Backend(pkcs11_config.Pkcs11Config.from_env(self._environ))

    def _new_aws_kms(self) -> KeyBackend:
        from firmseal.kms.aws_kms import AwsKmsBackend

        return AwsKmsBackend(aws_kms_config.AwsKmsConfig.from_env(self._environ))

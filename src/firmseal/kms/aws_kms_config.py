"""Settings of the `aws-kms` backend; importing this module does not import boto3."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from firmseal.errors import InvalidInputError

REGION_VARIABLE = "FIRMSEAL_KMS_REGION"
# Region variables in order of precedence. botocore (1.44 checked) reads AWS_DEFAULT_REGION
# but not AWS_REGION, so firmseal reads both itself.
REGION_VARIABLES = (REGION_VARIABLE, "AWS_REGION", "AWS_DEFAULT_REGION")
MAX_ATTEMPTS_VARIABLE = "FIRMSEAL_KMS_MAX_ATTEMPTS"
DEFAULT_MAX_ATTEMPTS = 5
_ATTEMPT_LIMIT = 20
# Variables that show the operator means to use AWS KMS. `firmseal backend check` contacts
# KMS only when one of them is set.
_CONFIGURING_VARIABLES = (
    *REGION_VARIABLES,
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KMS",
)


@dataclass(frozen=True)
class AwsKmsConfig:
    """Region, optional endpoint and retry bounds of the aws-kms backend.

    With `region` None, botocore takes the region from AWS_DEFAULT_REGION or the profile
    (`from_env` also reads FIRMSEAL_KMS_REGION and AWS_REGION). A key or alias ARN's own
    region overrides `region`. With `endpoint_url` None, botocore reads AWS_ENDPOINT_URL_KMS
    and AWS_ENDPOINT_URL. Delays are in seconds.
    """

    region: str | None = None
    endpoint_url: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base_delay: float = 0.5
    max_delay: float = 8.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AwsKmsConfig:
        """Read the region and FIRMSEAL_KMS_MAX_ATTEMPTS.

        The region is the first set of FIRMSEAL_KMS_REGION, AWS_REGION and
        AWS_DEFAULT_REGION; with none set, botocore falls back to the profile's region.
        """
        env = os.environ if environ is None else environ
        text = env.get(MAX_ATTEMPTS_VARIABLE, "")
        if text and (not text.isdigit() or not 1 <= int(text) <= _ATTEMPT_LIMIT):
            raise InvalidInputError(
                f"invalid {MAX_ATTEMPTS_VARIABLE}={text!r}; expected a whole number from 1 to "
                f"{_ATTEMPT_LIMIT}"
            )
        return cls(
            region=next((env[name] for name in REGION_VARIABLES if env.get(name)), None),
            max_attempts=int(text or DEFAULT_MAX_ATTEMPTS),
        )


def is_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Return whether a region, profile or endpoint variable shows AWS KMS is meant to be used."""
    env = os.environ if environ is None else environ
    return any(env.get(name) for name in _CONFIGURING_VARIABLES)

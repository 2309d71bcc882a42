"""ARNs of signing profiles and jobs, in the form AWS Signer uses."""

from __future__ import annotations

import re
from dataclasses import dataclass

from firmseal.config import Settings
from firmseal.errors import InvalidInputError

_PROFILE_ARN = re.compile(
    r"^arn:(?P<partition>[a-z-]+):signer:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"/signing-profiles/(?P<name>[a-zA-Z0-9_]{2,64})(?:/(?P<version>[a-zA-Z0-9]{10}))?$"
)
_JOB_ARN = re.compile(
    r"^arn:(?P<partition>[a-z-]+):signer:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"/signing-jobs/(?P<job_id>[0-9a-f-]{36})$"
)


@dataclass(frozen=True)
class ProfileArn:
    name: str
    version: str | None


def _prefix(settings: Settings) -> str:
    return f"arn:{settings.partition}:signer:{settings.region}:{settings.account_id}:"


def profile_arn(settings: Settings, name: str) -> str:
    return f"{_prefix(settings)}/signing-profiles/{name}"


def profile_version_arn(settings: Settings, name: str, version: str) -> str:
    return f"{profile_arn(settings, name)}/{version}"


def job_arn(settings: Settings, job_id: str) -> str:
    return f"{_prefix(settings)}/signing-jobs/{job_id}"


def principal_arn(settings: Settings, name: str) -> str:
    return f"arn:{settings.partition}:iam::{settings.account_id}:user/{name}"


def _check_scope(settings: Settings, match: re.Match[str], arn: str) -> None:
    expected = (settings.partition, settings.region, settings.account_id)
    if (match["partition"], match["region"], match["account"]) != expected:
        raise InvalidInputError(
            f"ARN {arn!r} is outside this server's partition, region and account "
            f"({':'.join(expected)})"
        )


def parse_profile_arn(settings: Settings, arn: str) -> ProfileArn:
    """Parse a signing profile ARN, with or without a version, of this region and account."""
    match = _PROFILE_ARN.match(arn)
    if match is None:
        raise InvalidInputError(
            f"invalid signing profile ARN {arn!r}; expected "
            f"{_prefix(settings)}/signing-profiles/NAME[/VERSION]"
        )
    _check_scope(settings, match, arn)
    return ProfileArn(match["name"], match["version"])


def parse_job_arn(settings: Settings, arn: str) -> str:
    """Return the job id of a signing job ARN of this region and account."""
    match = _JOB_ARN.match(arn)
    if match is None:
        raise InvalidInputError(
            f"invalid signing job ARN {arn!r}; expected {_prefix(settings)}/signing-jobs/JOB_ID"
        )
    _check_scope(settings, match, arn)
    return match["job_id"]

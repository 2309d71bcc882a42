"""Names of AWS KMS keys: key ARNs, alias ARNs and `alias/NAME`."""

from __future__ import annotations

import re

# Partitions such as aws, aws-cn and aws-us-gov; key ids are UUIDs, or mrk-<hex> for
# multi-Region keys; alias names are 1 to 256 characters of [A-Za-z0-9/_-] after "alias/".
_ARN = re.compile(
    r"^arn:aws(?:-[a-z]+)*:kms:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):(?P<account>\d{12}):"
    r"(?:key/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
    r"|alias/[A-Za-z0-9/_-]{1,250})$"
)
_ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}$")


def is_kms_uri(uri: str) -> bool:
    return bool(_ARN.match(uri) or _ALIAS.match(uri))


def looks_like_kms_uri(uri: str) -> bool:
    """Return whether `uri` is meant for AWS KMS, even if malformed (for backend selection)."""
    return uri.startswith("alias/") or bool(re.match(r"^arn:aws[a-z-]*:kms:", uri))


def region_of(uri: str) -> str | None:
    """Return the region of a key or alias ARN, or None for `alias/NAME`."""
    match = _ARN.match(uri)
    return match.group("region") if match else None

"""Opaque nextToken values: base64url JSON bound to the operation and its filters."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from firmseal.api.errors import validation

MAX_TOKEN_LENGTH = 1024
DEFAULT_PAGE_SIZE = 25


def _filters_digest(operation: str, filters: dict[str, Any]) -> str:
    document = json.dumps([operation, filters], sort_keys=True, default=str)
    return hashlib.sha256(document.encode()).hexdigest()[:16]


def encode_token(operation: str, filters: dict[str, Any], position: dict[str, Any]) -> str:
    document = {"f": _filters_digest(operation, filters), "p": position}
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


def decode_token(operation: str, filters: dict[str, Any], token: str | None) -> dict[str, Any]:
    """Return the position a token carries; {} for no token. Raise ValidationException."""
    if token is None:
        return {}
    if len(token) > MAX_TOKEN_LENGTH:
        raise validation("invalid nextToken; pass the value a previous page returned")
    try:
        document = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeError):
        raise validation("invalid nextToken; pass the value a previous page returned") from None
    if not isinstance(document, dict) or not isinstance(document.get("p"), dict):
        raise validation("invalid nextToken; pass the value a previous page returned")
    if document.get("f") != _filters_digest(operation, filters):
        raise validation("nextToken was issued for other filters; repeat the same filters")
    position: dict[str, Any] = document["p"]
    return position


def page_size(params: dict[str, Any]) -> int:
    return int(params.get("maxResults", DEFAULT_PAGE_SIZE))


def offset_of(position: dict[str, Any]) -> int:
    offset = position.get("offset", 0)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise validation("invalid nextToken; pass the value a previous page returned")
    return offset

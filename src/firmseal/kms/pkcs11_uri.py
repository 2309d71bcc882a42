"""RFC 7512 `pkcs11:` URIs: a strict parser and a canonical formatter.

The parser accepts the path attributes of RFC 7512 section 2.3 (`token`, `object`, `id`,
`type` and the token, library and slot identification attributes) and the query attributes
`module-name`, `module-path` and `pin-source`, plus vendor attributes whose names start with
`x-`. It raises InvalidInputError for an unknown or repeated attribute, a character outside
the RFC grammar and a malformed percent-escape. It also rejects any `pin-value` attribute,
in the path or the query, before any other check, because a PIN inside a key URI would be
stored in the database and shown with the URI. No error message of the parser contains the
value of a `pin-value` attribute.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_to_bytes

from firmseal.errors import InvalidInputError

SCHEME = "pkcs11:"
MAX_URI_LENGTH = 512

PATH_ATTRIBUTES = frozenset(
    {
        "token",
        "manufacturer",
        "serial",
        "model",
        "library-manufacturer",
        "library-description",
        "library-version",
        "object",
        "type",
        "id",
        "slot-description",
        "slot-manufacturer",
        "slot-id",
    }
)
QUERY_ATTRIBUTES = frozenset({"module-name", "module-path", "pin-source"})
OBJECT_TYPES = frozenset({"public", "private", "cert", "secret-key", "data"})

_UNRESERVED = string.ascii_letters + string.digits + "-._~"
_RESERVED_AVAILABLE = ":[]@!$'()*+,="
# RFC 7512 pk11-pchar for path values also allows "&"; query values also allow "/", "?" and "|".
_PATH_CHARS = frozenset(_UNRESERVED + _RESERVED_AVAILABLE + "&%")
_QUERY_CHARS = frozenset(_UNRESERVED + _RESERVED_AVAILABLE + "/?|%")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_PERCENT_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DIGITS = re.compile(r"^[0-9]+$")
_VERSION = re.compile(r"^[0-9]+(\.[0-9]+)?$")
# A pin-value attribute anywhere in a text: its value runs to the next separator of a
# pkcs11: URI (";", "&", "?"), a quote or whitespace.
_PIN_VALUE = re.compile(r"(pin-value=)[^;&?'\"\s]*", re.IGNORECASE)
PIN_VALUE_MESSAGE = (
    "PKCS#11 URI contains pin-value; firmseal does not accept PINs in key URIs. "
    "Remove it and set FIRMSEAL_PKCS11_PIN or FIRMSEAL_PKCS11_PIN_FILE instead"
)


@dataclass(frozen=True)
class Pkcs11Uri:
    """The attributes of one `pkcs11:` URI, with percent-escapes decoded.

    `id` stays bytes because CKA_ID is a byte string. Every other value is UTF-8 text.
    """

    token: str | None = None
    object: str | None = None
    id: bytes | None = None
    type: str | None = None
    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return format_uri(self)


def redact_pin_values(text: str) -> str:
    """Return `text` with the value of every `pin-value=` attribute replaced by REDACTED."""
    return _PIN_VALUE.sub(r"\1REDACTED", text)


def parse_uri(uri: str) -> Pkcs11Uri:
    """Parse a `pkcs11:` URI; raise InvalidInputError naming the first violation."""
    if _PIN_VALUE.search(uri):
        # Checked first, so that no later message can repeat the URI with its PIN.
        raise InvalidInputError(PIN_VALUE_MESSAGE)
    if len(uri) > MAX_URI_LENGTH:
        raise InvalidInputError(
            f"PKCS#11 URI is {len(uri)} characters; the maximum is {MAX_URI_LENGTH}"
        )
    if uri[: len(SCHEME)].lower() != SCHEME:
        raise InvalidInputError(f"invalid PKCS#11 URI {uri!r}: it must start with 'pkcs11:'")

    path_text, _, query_text = uri[len(SCHEME) :].partition("?")
    path = _parse_attributes(uri, path_text, ";", _PATH_CHARS, "path")
    query = _parse_attributes(uri, query_text, "&", _QUERY_CHARS, "query")
    _check_path_names(uri, path)
    _check_query_names(uri, query)

    token = _text(uri, path, "token")
    object_label = _text(uri, path, "object")
    object_type = _text(uri, path, "type")
    key_id = path.pop("id", None)
    if object_type is not None and object_type not in OBJECT_TYPES:
        raise InvalidInputError(
            f"invalid PKCS#11 URI {uri!r}: type={object_type!r} is not one of "
            f"{', '.join(sorted(OBJECT_TYPES))}"
        )
    _check_numeric(uri, path)

    return Pkcs11Uri(
        token=token,
        object=object_label,
        id=key_id,
        type=object_type,
        path={name: _decode_text(uri, name, raw) for name, raw in path.items()},
        query={name: _decode_text(uri, name, raw) for name, raw in query.items()},
    )


def format_uri(uri: Pkcs11Uri) -> str:
    """Return the URI with every byte outside the RFC 3986 unreserved set percent-encoded."""
    parts: list[str] = []
    if uri.token is not None:
        parts.append(f"token={_encode(uri.token.encode())}")
    if uri.object is not None:
        parts.append(f"object={_encode(uri.object.encode())}")
    if uri.id is not None:
        parts.append(f"id={''.join(f'%{byte:02X}' for byte in uri.id)}")
    if uri.type is not None:
        parts.append(f"type={uri.type}")
    parts.extend(f"{name}={_encode(value.encode())}" for name, value in sorted(uri.path.items()))
    text = SCHEME + ";".join(parts)
    if uri.query:
        pairs = (f"{name}={_encode(value.encode())}" for name, value in sorted(uri.query.items()))
        text += "?" + "&".join(pairs)
    return text


def _encode(value: bytes) -> str:
    return quote(value, safe="")


def _parse_attributes(
    uri: str, text: str, separator: str, allowed: frozenset[str], part: str
) -> dict[str, bytes]:
    attributes: dict[str, bytes] = {}
    if not text:
        return attributes
    for item in text.split(separator):
        name, equals, raw = item.partition("=")
        if not equals or not _ATTRIBUTE_NAME.match(name):
            raise InvalidInputError(
                f"invalid PKCS#11 URI {uri!r}: {part} attribute {item!r} is not NAME=VALUE"
            )
        name = name.lower()
        if name in attributes:
            raise InvalidInputError(f"invalid PKCS#11 URI {uri!r}: {name!r} appears twice")
        bad = sorted({char for char in raw if char not in allowed})
        if bad:
            raise InvalidInputError(
                f"invalid PKCS#11 URI {uri!r}: {name} contains {''.join(bad)!r}, which must "
                "be percent-encoded"
            )
        if _PERCENT_ESCAPE.search(raw):
            raise InvalidInputError(
                f"invalid PKCS#11 URI {uri!r}: {name} has a '%' not followed by two hex digits"
            )
        attributes[name] = unquote_to_bytes(raw)
    return attributes


def _check_path_names(uri: str, path: dict[str, bytes]) -> None:
    for name in path:
        if name not in PATH_ATTRIBUTES and not name.startswith("x-"):
            raise InvalidInputError(
                f"invalid PKCS#11 URI {uri!r}: unknown path attribute {name!r}; vendor "
                "attributes must start with 'x-'"
            )


def _check_query_names(uri: str, query: dict[str, bytes]) -> None:
    if "pin-value" in query:
        # The message leaves out the URI because it contains the PIN.
        raise InvalidInputError(PIN_VALUE_MESSAGE)
    for name in query:
        if name not in QUERY_ATTRIBUTES and not name.startswith("x-"):
            raise InvalidInputError(
                f"invalid PKCS#11 URI {uri!r}: unknown query attribute {name!r}"
            )


def _check_numeric(uri: str, path: dict[str, bytes]) -> None:
    slot_id = path.get("slot-id")
    if slot_id is not None and not _DIGITS.match(slot_id.decode("ascii", "replace")):
        raise InvalidInputError(f"invalid PKCS#11 URI {uri!r}: slot-id must be decimal digits")
    version = path.get("library-version")
    if version is not None and not _VERSION.match(version.decode("ascii", "replace")):
        raise InvalidInputError(
            f"invalid PKCS#11 URI {uri!r}: library-version must look like 2 or 2.40"
        )


def _text(uri: str, attributes: dict[str, bytes], name: str) -> str | None:
    raw = attributes.pop(name, None)
    return None if raw is None else _decode_text(uri, name, raw)


def _decode_text(uri: str, name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(
            f"invalid PKCS#11 URI {uri!r}: {name} is not valid UTF-8 after percent-decoding"
        ) from None

"""Parse and check request members, and serialise responses, by the shapes of the model.

botocore checks only `required` on the client, so the server checks every type, length,
range, pattern and enum the model declares, and reports the first failure in AWS's
ValidationException wording.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from firmseal.api.errors import ApiError, validation
from firmseal.api.model import Operation

MAX_QUERY_FIELDS = 64
_SCALAR_TYPES: dict[str, tuple[type, str]] = {
    "string": (str, "a string"),
    "integer": (int, "an integer"),
    "long": (int, "an integer"),
    "boolean": (bool, "a boolean"),
}


def _failed(path: str, value: object, constraint: str) -> ApiError:
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    return validation(
        f"1 validation error detected: Value {shown} at '{path}' failed to satisfy "
        f"constraint: {constraint}"
    )


def parse_timestamp(value: object, path: str) -> dt.datetime:
    """Accept epoch seconds (JSON number) or ISO 8601 text, as botocore sends them."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or abs(value) > 253402300799:
            raise _failed(path, value, "Member must be a valid timestamp")
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _failed(path, value, "Member must be an ISO 8601 timestamp") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    raise _failed(path, value, "Member must be a timestamp")


def _display_key(key: str) -> str:
    """Escape what UTF-8 cannot encode, so that an error message can name the member."""
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


def _check_encodable(document: Any) -> None:
    """Reject any string at any depth, key or value, that UTF-8 cannot encode.

    JSON's \\uXXXX escapes can spell a lone surrogate such as \\ud800. Python keeps it in
    a str, but the database and the JSON encoder fail on it later, after the request has
    passed every other check.
    """
    pending: list[tuple[Any, str]] = [(document, "")]
    while pending:
        value, path = pending.pop()
        if isinstance(value, str):
            _check_text(value, path)
            continue
        if isinstance(value, dict):
            items = list(value.items())
        elif isinstance(value, list):
            items = [(str(i + 1), item) for i, item in enumerate(value)]
        else:
            continue
        for key, item in items:
            where = f"{path}.{_display_key(key)}" if path else _display_key(key)
            _check_text(key, where)
            pending.append((item, where))


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _failed(
            path or "body",
            text,
            "Member must be text that UTF-8 can encode; lone surrogates such as \\ud800 "
            "are not allowed",
        ) from None


class InputParser:
    """Turns the parts of one HTTP request into the operation's input members."""

    def __init__(self, shapes: Mapping[str, Any]) -> None:
        self._shapes = shapes

    def parse(
        self,
        operation: Operation,
        uri: Mapping[str, str],
        query: list[tuple[str, str]],
        body: bytes,
    ) -> dict[str, Any]:
        if operation.input_shape is None:
            return {}
        shape = self._shapes[operation.input_shape]
        members: dict[str, Any] = shape.get("members", {})
        result: dict[str, Any] = {}
        body_members: dict[str, Any] = {}
        query_members: dict[str, tuple[str, Any]] = {}
        for name, member in members.items():
            location = member.get("location")
            wire_name = member.get("locationName", name)
            if location == "uri":
                if wire_name in uri:
                    result[name] = self._coerce_text(member["shape"], uri[wire_name], name)
            elif location == "querystring":
                query_members[wire_name] = (name, member)
            elif location is None:
                body_members[name] = member
        result.update(self._parse_query(query, query_members))
        result.update(self._parse_body(body, body_members))
        self.check(operation.input_shape, result, "", top_level=True)
        return result

    def _parse_query(
        self, query: list[tuple[str, str]], members: Mapping[str, tuple[str, Any]]
    ) -> dict[str, Any]:
        if len(query) > MAX_QUERY_FIELDS:
            raise validation(f"too many query parameters; at most {MAX_QUERY_FIELDS} allowed")
        grouped: dict[str, list[str]] = {}
        for key, value in query:
            if key not in members:
                known = ", ".join(sorted(members)) or "none"
                raise validation(f"unknown query parameter {key!r}; this operation takes {known}")
            grouped.setdefault(key, []).append(value)
        result: dict[str, Any] = {}
        for key, values in grouped.items():
            name, member = members[key]
            shape = self._shapes[member["shape"]]
            if shape["type"] == "list":
                result[name] = [
                    self._coerce_text(shape["member"]["shape"], v, key) for v in values
                ]
            elif len(values) > 1:
                raise validation(f"query parameter {key!r} is repeated; give it once")
            else:
                result[name] = self._coerce_text(member["shape"], values[0], key)
        return result

    def _coerce_text(self, shape_name: str, text: str, path: str) -> Any:
        """Convert a URI or query string value to the member's type."""
        kind = self._shapes[shape_name]["type"]
        if kind == "integer":
            if not re.fullmatch(r"-?[0-9]{1,10}", text):
                raise _failed(path, text, "Member must be an integer")
            return int(text)
        if kind == "boolean":
            if text not in ("true", "false"):
                raise _failed(path, text, "Member must be true or false")
            return text == "true"
        if kind == "timestamp":
            if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text):
                return parse_timestamp(float(text), path)
            return parse_timestamp(text, path)
        return text

    def _parse_body(self, body: bytes, members: Mapping[str, Any]) -> dict[str, Any]:
        if not members:
            if body.strip() not in (b"", b"{}"):
                raise validation("this operation takes no request body")
            return {}
        if not body.strip():
            return {}
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise ApiError("ValidationException", "the request body is not valid JSON") from None
        _check_encodable(document)
        if not isinstance(document, dict):
            raise validation("the request body must be a JSON object")
        result: dict[str, Any] = {}
        for key, value in document.items():
            if key not in members:
                raise validation(f"unknown field {key!r} in the request body")
            if value is not None:
                result[key] = self._coerce_json(members[key]["shape"], value, key)
        return result

    def _coerce_json(self, shape_name: str, value: Any, path: str) -> Any:
        """Check a JSON value's type against the shape; decode blobs and timestamps."""
        shape = self._shapes[shape_name]
        kind = shape["type"]
        scalar = _SCALAR_TYPES.get(kind)
        if scalar is not None:
            python_type, noun = scalar
            if isinstance(value, bool) != (python_type is bool) or not isinstance(
                value, python_type
            ):
                raise _failed(path, value, f"Member must be {noun}")
            return value
        if kind == "timestamp":
            return parse_timestamp(value, path)
        if kind == "blob":
            return self._decode_blob(value, path)
        if kind == "list":
            if not isinstance(value, list):
                raise _failed(path, value, "Member must be a list")
            member = shape["member"]["shape"]
            return [self._coerce_json(member, v, f"{path}.{i + 1}") for i, v in enumerate(value)]
        if kind == "map":
            return self._coerce_map(shape, value, path)
        return self._coerce_structure(shape, value, path)

    def _coerce_map(self, shape: Mapping[str, Any], value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _failed(path, value, "Member must be a map")
        key_shape, value_shape = shape["key"]["shape"], shape["value"]["shape"]
        return {
            self._coerce_json(key_shape, k, path): self._coerce_json(value_shape, v, f"{path}.{k}")
            for k, v in value.items()
        }

    def _coerce_structure(self, shape: Mapping[str, Any], value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _failed(path, value, "Member must be a structure")
        members = shape.get("members", {})
        result: dict[str, Any] = {}
        for key, item in value.items():
            if key not in members:
                raise validation(f"unknown field {key!r} in '{path}'")
            if item is not None:
                result[key] = self._coerce_json(members[key]["shape"], item, f"{path}.{key}")
        return result

    @staticmethod
    def _decode_blob(value: Any, path: str) -> bytes:
        if not isinstance(value, str):
            raise _failed(path, value, "Member must be base64 text")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _failed(path, value[:40], "Member must be valid base64") from None

    def check(self, shape_name: str, value: Any, path: str, top_level: bool = False) -> None:
        """Check required members, lengths, ranges, patterns and enums, recursively."""
        shape = self._shapes[shape_name]
        kind = shape["type"]
        if kind == "structure":
            for required in shape.get("required", []):
                if required not in value:
                    where = required if top_level else f"{path}.{required}"
                    raise _failed(where, None, "Member must not be null")
            for key, item in value.items():
                where = key if top_level else f"{path}.{key}"
                self.check(shape["members"][key]["shape"], item, where)
            return
        self._check_bounds(shape, value, path)
        if kind == "list":
            for i, item in enumerate(value):
                self.check(shape["member"]["shape"], item, f"{path}.{i + 1}")
        elif kind == "map":
            for key, item in value.items():
                self.check(shape["key"]["shape"], key, f"{path}.key")
                self.check(shape["value"]["shape"], item, f"{path}.{key}")

    @staticmethod
    def _check_bounds(shape: Mapping[str, Any], value: Any, path: str) -> None:
        size = value if shape["type"] in ("integer", "long") else None
        if isinstance(value, (str, bytes, list, dict)):
            size = len(value)
        noun = "value" if shape["type"] in ("integer", "long") else "length"
        if "min" in shape and size is not None and size < shape["min"]:
            raise _failed(
                path, value, f"Member must have {noun} greater than or equal to {shape['min']}"
            )
        if "max" in shape and size is not None and size > shape["max"]:
            raise _failed(
                path, value, f"Member must have {noun} less than or equal to {shape['max']}"
            )
        if "enum" in shape and value not in shape["enum"]:
            raise _failed(path, value, f"Member must satisfy enum value set: {shape['enum']}")
        pattern = shape.get("pattern")
        if pattern and isinstance(value, str) and not re.search(pattern, value):
            raise _failed(
                path, value, f"Member must satisfy regular expression pattern: {pattern}"
            )


class OutputSerializer:
    """Turns a handler's result into the JSON body botocore parses for the output shape."""

    def __init__(self, shapes: Mapping[str, Any]) -> None:
        self._shapes = shapes

    def serialize(self, shape_name: str | None, result: Mapping[str, Any] | None) -> bytes:
        if shape_name is None or result is None:
            return b"{}"
        return json.dumps(self._value(shape_name, result), separators=(",", ":")).encode()

    def _value(self, shape_name: str, value: Any) -> Any:
        shape = self._shapes[shape_name]
        kind = shape["type"]
        if kind == "structure":
            members = shape["members"]
            return {
                key: self._value(members[key]["shape"], item)
                for key, item in value.items()
                if item is not None and key in members
            }
        if kind == "list":
            return [self._value(shape["member"]["shape"], item) for item in value]
        if kind == "map":
            return {k: self._value(shape["value"]["shape"], v) for k, v in value.items()}
        if kind == "timestamp":
            return value.timestamp()
        if kind == "blob":
            return base64.b64encode(value).decode()
        return value

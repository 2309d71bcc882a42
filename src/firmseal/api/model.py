"""AWS Signer's service model from the installed botocore, and request routing by it.

botocore's `signer` model (data/signer/2017-08-25/service-2.json) is the specification: the
same file that boto3 and the AWS CLI build requests from gives the paths, methods, member
locations, types and constraints that the server checks.
"""

from __future__ import annotations

import functools
import urllib.parse
from dataclasses import dataclass
from typing import Any

import botocore.loaders

SERVICE = "signer"
API_VERSION = "2017-08-25"


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    segments: tuple[str, ...]
    input_shape: str | None
    output_shape: str | None
    errors: frozenset[str]

    @property
    def literal_count(self) -> int:
        return sum(1 for segment in self.segments if not segment.startswith("{"))

    def match(self, method: str, raw_segments: list[str]) -> dict[str, str] | None:
        """Return the URI members when the method and the encoded path segments match."""
        if method != self.method or len(raw_segments) != len(self.segments):
            return None
        captured: dict[str, str] = {}
        for template, raw in zip(self.segments, raw_segments, strict=True):
            if template.startswith("{"):
                value = urllib.parse.unquote(raw, errors="strict")
                if not value:
                    return None
                captured[template.strip("{}+")] = value
            elif template != raw:
                return None
        return captured


@dataclass(frozen=True)
class ServiceModel:
    shapes: dict[str, Any]
    operations: dict[str, Operation]

    def route(self, method: str, raw_path: str) -> tuple[Operation, dict[str, str]] | None:
        segments = raw_path.strip("/").split("/")
        candidates = sorted(self.operations.values(), key=lambda o: -o.literal_count)
        for operation in candidates:
            try:
                captured = operation.match(method, segments)
            except UnicodeDecodeError:
                return None
            if captured is not None:
                return operation, captured
        return None


def _operation(name: str, spec: dict[str, Any]) -> Operation:
    path = spec["http"]["requestUri"].split("?", 1)[0]
    return Operation(
        name=name,
        method=spec["http"]["method"],
        segments=tuple(path.strip("/").split("/")),
        input_shape=spec.get("input", {}).get("shape"),
        output_shape=spec.get("output", {}).get("shape"),
        errors=frozenset(error["shape"] for error in spec.get("errors", [])),
    )


@functools.cache
def load_model() -> ServiceModel:
    loader = botocore.loaders.create_loader()
    document: dict[str, Any] = loader.load_service_model(SERVICE, "service-2", API_VERSION)
    operations = {name: _operation(name, spec) for name, spec in document["operations"].items()}
    return ServiceModel(shapes=document["shapes"], operations=operations)

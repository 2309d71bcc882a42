"""Schemathesis against the native OpenAPI document: no 5xx, responses match the schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from api_server import Server, Workspace, start_server


@pytest.fixture(scope="module")
def native_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("native")
    workspace = Workspace(home, f"sqlite:///{home / 'firmseal.db'}")
    workspace.run("init")
    server = start_server(workspace, "--signing-workers", "0")
    yield server
    server.stop()


def test_native_endpoints_conform(native_server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{native_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 5
    for operation in operations:

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate()

        check()


def test_openapi_lists_native_paths(native_server: Server) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{native_server.url}/openapi.json", timeout=10) as response:
        document = json.loads(response.read())
    assert set(document["paths"]) == {
        "/healthz",
        "/native/v1/ping",
        "/native/v1/version",
        "/native/v1/platforms",
        "/native/v1/platforms/{platform_id}",
    }

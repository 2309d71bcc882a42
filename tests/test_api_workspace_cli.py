"""`firmseal principal` and `firmseal object` on the local store, and graceful shutdown."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

from api_server import FIRMWARE, Workspace, raw_request, start_server
from conftest import ApiEnv, Cli


def test_principal_secret_shown_once(fs: Cli, home: Path) -> None:
    created = fs.json("principal", "create", "ci", "--admin")
    assert created["AccessKeyId"].startswith("FSAK")
    assert len(created["AccessKeyId"]) == 20
    assert len(created["SecretAccessKey"]) == 40
    listed = fs.json("principal", "list")["principals"]
    assert listed == [
        {
            "Name": "ci",
            "Arn": "arn:aws:iam::123456789012:user/ci",
            "Admin": True,
            "AccessKeyId": created["AccessKeyId"],
        }
    ]
    database = (home / "firmseal.db").read_bytes()
    wal = home / "firmseal.db-wal"
    stored = database + (wal.read_bytes() if wal.exists() else b"")
    assert created["SecretAccessKey"].encode() not in stored


def test_principal_name_rules(fs: Cli) -> None:
    fs("principal", "create", "ci")
    taken = fs("principal", "create", "ci", expect=4)
    assert "already exists" in taken.stderr
    invalid = fs("principal", "create", "bad name", expect=2)
    assert "invalid principal name" in invalid.stderr


def test_object_put_get_list(fs: Cli, tmp_path: Path) -> None:
    first = fs.json("object", "put", "fw-bucket", "dir/fw.bin", str(FIRMWARE))["versionId"]
    other = tmp_path / "other.bin"
    other.write_bytes(b"second version")
    second = fs("object", "put", "fw-bucket", "dir/fw.bin", str(other)).stdout.strip()
    assert second > first
    out = tmp_path / "out.bin"
    fs("object", "get", "fw-bucket", "dir/fw.bin", str(out), "--version-id", first)
    assert out.read_bytes() == FIRMWARE.read_bytes()
    fs("object", "get", "fw-bucket", "dir/fw.bin", str(out))
    assert out.read_bytes() == b"second version"
    listed = fs.json("object", "list", "fw-bucket", "--prefix", "dir/")["objects"]
    assert listed == [{"key": "dir/fw.bin", "versionId": second, "size": 14}]
    assert fs.json("object", "list", "fw-bucket", "--prefix", "nothing")["objects"] == []


def test_object_bad_names_and_versions(fs: Cli, tmp_path: Path) -> None:
    bad_bucket = fs("object", "put", "../etc", "k", str(FIRMWARE), expect=2)
    assert "invalid bucket name" in bad_bucket.stderr
    fs("object", "put", "fw-bucket", "k", str(FIRMWARE))
    missing = fs(
        "object",
        "get",
        "fw-bucket",
        "k",
        str(tmp_path / "x"),
        "--version-id",
        "../../master.key",
        expect=3,
    )
    assert "not found" in missing.stderr
    unreadable = fs("object", "put", "fw-bucket", "k", str(tmp_path / "absent"), expect=2)
    assert "cannot read" in unreadable.stderr


def test_serve_stops_gracefully(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'firmseal.db'}")
    workspace.run("init")
    server = start_server(workspace)
    server.process.send_signal(signal.SIGTERM)
    # uvicorn 0.29 and later re-raise the signal after a graceful shutdown.
    assert server.process.wait(timeout=60) in (0, -signal.SIGTERM)
    log = server.log()
    assert "Waiting for application shutdown" in log
    assert "stopped" in log.split("Waiting for application shutdown")[1]
    assert "firmseal API stopped" in log


def _assert_unknown_key(api: ApiEnv, credentials: dict[str, str]) -> None:
    response = raw_request(api.url, "GET", "/signing-platforms", b"", credentials)
    assert response.status == 403
    assert response.error_type == "UnrecognizedClientException"
    message = response.json()["message"]
    assert message == "The security token included in the request is invalid."


def test_principal_delete_stops_key(api: ApiEnv) -> None:
    name = f"gone_{uuid.uuid4().hex[:8]}"
    credentials = api.workspace.principal(name)
    signer = api.client(credentials)
    signer.list_signing_platforms()
    deleted = api.workspace.json("principal", "delete", name)
    assert deleted == {"Name": name, "AccessKeyId": credentials["AccessKeyId"]}
    _assert_unknown_key(api, credentials)
    listed = api.workspace.json("principal", "list")["principals"]
    assert name not in {p["Name"] for p in listed}


def test_principal_rotate_replaces_key(api: ApiEnv) -> None:
    name = f"rotated_{uuid.uuid4().hex[:8]}"
    old = api.workspace.principal(name)
    api.client(old).list_signing_platforms()
    new = api.workspace.json("principal", "rotate", name)
    assert new["Name"] == name
    assert new["AccessKeyId"] != old["AccessKeyId"]
    assert new["SecretAccessKey"] != old["SecretAccessKey"]
    _assert_unknown_key(api, old)
    response = api.client(new).list_signing_platforms()
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_principal_delete_unknown_name(fs: Cli) -> None:
    missing = fs("principal", "delete", "nobody", expect=3)
    assert "principal 'nobody' not found" in missing.stderr
    missing = fs("principal", "rotate", "nobody", expect=3)
    assert "principal 'nobody' not found" in missing.stderr


def test_object_put_long_and_invalid_keys(fs: Cli) -> None:
    long_key = "releases/" + "k" * 300
    version = fs.json("object", "put", "fw-bucket", long_key, str(FIRMWARE))["versionId"]
    listed = fs.json("object", "list", "fw-bucket")["objects"]
    assert [(o["key"], o["versionId"]) for o in listed] == [(long_key, version)]
    too_long = fs("object", "put", "fw-bucket", "k" * 1025, str(FIRMWARE), expect=2)
    assert too_long.stderr.count("\n") == 1
    assert "invalid object key" in too_long.stderr
    assert "use 1 to 1024 bytes of UTF-8" in too_long.stderr
    surrogate = fs("object", "put", "fw-bucket", "fw\udcff.bin", str(FIRMWARE), expect=2)
    assert surrogate.stderr.count("\n") == 1
    assert "invalid object key 'fw\\udcff.bin'" in surrogate.stderr

"""Every bad input gets one `error:` line, a specific exit code, and leaves nothing behind."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import Cli, Signed, make_signing_setup

INVALID, NOT_FOUND, CONFLICT, BACKEND = 2, 3, 4, 5


def error_line(result_stderr: str) -> str:
    lines = result_stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


def job_rows(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "firmseal.db") as db:
        return list(db.execute("select status, status_reason from signing_jobs"))


@pytest.fixture
def ready(fs: Cli, tmp_path: Path) -> Cli:
    make_signing_setup(fs, tmp_path)
    return fs


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["sign", "--profile", "nope", "x"], NOT_FOUND, "signing profile 'nope' not found"),
        (["key", "show", "nope"], NOT_FOUND, "key 'nope' not found"),
        (["cert", "export", "nope"], NOT_FOUND, "certificate 'nope' not found"),
        (["ca", "export", "release-cert"], NOT_FOUND, "CA 'release-cert' not found"),
        (["platform", "show", "Nope-1"], NOT_FOUND, "platform 'Nope-1' not found"),
        (
            ["profile", "put", "p2", "--platform", "Nope-1", "--key", "release"],
            NOT_FOUND,
            "known platforms",
        ),
        (["key", "create", "x", "--spec", "EC_P999"], INVALID, "invalid key spec 'EC_P999'"),
        (["key", "create", "release", "--spec", "ED25519"], CONFLICT, "already exists"),
        (
            ["profile", "put", "a", "--platform", "AmazonFreeRTOS-Default", "--key", "release"],
            INVALID,
            "invalid profile name 'a'",
        ),
        (
            ["profile", "put", "p2", "--platform", "AmazonFreeRTOS-Default", "--key", "release"],
            INVALID,
            "needs signing parameter certname",
        ),
        (
            [
                "profile",
                "put",
                "p2",
                "--platform",
                "AmazonFreeRTOS-Default",
                "--key",
                "release",
                "--param",
                "certname=x",
                "--validity",
                "10W",
            ],
            INVALID,
            "invalid validity '10W'",
        ),
        (
            ["ca", "create", "c2", "--spec", "ECC_NIST_P256", "--subject", "nonsense"],
            INVALID,
            "invalid subject 'nonsense'",
        ),
        (["job", "show", "00000000-0000-0000-0000-000000000000"], NOT_FOUND, "not found"),
    ],
)
def test_errors_name_the_value(ready: Cli, args: list[str], code: int, needle: str) -> None:
    result = ready(*args, expect=code)
    assert needle in error_line(result.stderr)


def test_profile_name_taken_after_cancel(ready: Cli) -> None:
    ready("profile", "cancel", "wifi")
    result = ready(
        "profile",
        "put",
        "wifi",
        "--platform",
        "AWSIoTDeviceManagement-SHA256-ECDSA",
        "--key",
        "release",
        expect=CONFLICT,
    )
    line = error_line(result.stderr)
    assert "'wifi' is already taken (status Canceled)" in line
    assert "cannot be reused" in line


def test_key_spec_not_allowed_by_platform(ready: Cli) -> None:
    ready("key", "create", "rsa", "--spec", "RSA_2048")
    result = ready(
        "profile",
        "put",
        "rsa_profile",
        "--platform",
        "AmazonFreeRTOS-Default",
        "--key",
        "rsa",
        "--param",
        "certname=x",
        expect=INVALID,
    )
    assert "key 'rsa' is RSA_2048" in error_line(result.stderr)
    assert "ECC_NIST_P256" in result.stderr


def test_certificate_for_another_key(ready: Cli) -> None:
    ready("key", "create", "other", "--spec", "ECC_NIST_P256")
    result = ready(
        "profile",
        "put",
        "p3",
        "--platform",
        "AmazonFreeRTOS-Default",
        "--key",
        "other",
        "--certificate",
        "release-cert",
        "--param",
        "certname=x",
        expect=INVALID,
    )
    assert "certificate 'release-cert' is not for key 'other'" in error_line(result.stderr)


def _sign(fs: Cli, image: Path, out: Path, code: int) -> str:
    out.mkdir(exist_ok=True)
    result = fs("sign", "--profile", "wifi", str(image), "--out-dir", str(out), expect=code)
    assert list(out.iterdir()) == []
    return error_line(result.stderr)


def test_disabled_key_does_not_sign(ready: Cli, firmware: Path, tmp_path: Path) -> None:
    ready("key", "disable", "release")
    line = _sign(ready, firmware, tmp_path / "out", CONFLICT)
    assert "key 'release' is Disabled" in line
    assert "firmseal key enable release" in line
    assert job_rows(ready.home) == []
    ready("key", "enable", "release")
    ready("sign", "--profile", "wifi", str(firmware), "--out-dir", str(tmp_path / "out"))


def test_canceled_profile_does_not_sign(ready: Cli, firmware: Path, tmp_path: Path) -> None:
    ready("profile", "cancel", "wifi")
    line = _sign(ready, firmware, tmp_path / "out", CONFLICT)
    assert "'wifi' is Canceled" in line


def test_empty_file(ready: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.touch()
    assert "is empty" in _sign(ready, empty, tmp_path / "out", INVALID)
    assert job_rows(ready.home) == []


def test_missing_file(ready: Cli, tmp_path: Path) -> None:
    assert "not found" in _sign(ready, tmp_path / "absent.bin", tmp_path / "out", INVALID)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(ready: Cli, firmware: Path, tmp_path: Path) -> None:
    firmware.chmod(0)
    assert "cannot read" in _sign(ready, firmware, tmp_path / "out", INVALID)


def test_unreadable_directory_given(ready: Cli, tmp_path: Path) -> None:
    assert "is a directory" in _sign(ready, tmp_path, tmp_path / "out", INVALID)


def test_oversized_file(ready: Cli, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as stream:
        stream.truncate(16 * 1024 * 1024 + 1)
    line = _sign(ready, big, tmp_path / "out", INVALID)
    assert "16777217 bytes" in line
    assert "limit of 16 MB" in line


def test_malformed_intel_hex(ready: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.hex"
    bad.write_text(":0400000001020304F1\n:00000001FF\n")
    line = _sign(ready, bad, tmp_path / "out", INVALID)
    assert "bad.hex line 1: checksum mismatch" in line
    assert job_rows(ready.home) == [("Failed", line.removeprefix("error: "))]
    assert not list((ready.home / "objects").rglob("*.pending*"))


def test_out_dir_missing(ready: Cli, firmware: Path, tmp_path: Path) -> None:
    result = ready(
        "sign",
        "--profile",
        "wifi",
        str(firmware),
        "--out-dir",
        str(tmp_path / "nope"),
        expect=INVALID,
    )
    assert "does not exist" in error_line(result.stderr)


def test_bad_signing_parameter(ready: Cli, firmware: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = ready(
        "sign",
        "--profile",
        "wifi",
        str(firmware),
        "--out-dir",
        str(out),
        "--param",
        "protocol=FTP",
        expect=INVALID,
    )
    assert "invalid signing parameter protocol='FTP'" in error_line(result.stderr)
    assert list(out.iterdir()) == []


def test_wrong_master_key(ready: Cli, firmware: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FIRMSEAL_MASTER_KEY", base64.b64encode(b"\x01" * 32).decode())
    line = _sign(ready, firmware, tmp_path / "out", BACKEND)
    assert "the master key does not match the key store" in line
    assert job_rows(ready.home) == []
    created = ready("key", "create", "k2", "--spec", "ECC_NIST_P256", expect=BACKEND)
    assert "does not match" in error_line(created.stderr)


def test_master_key_env_malformed(ready: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRMSEAL_MASTER_KEY", "c2hvcnQ=")
    result = ready("key", "create", "k9", "--spec", "ED25519", expect=INVALID)
    assert "is 5 bytes; expected 32 bytes" in error_line(result.stderr)


def test_no_workspace(home: Path) -> None:
    result = Cli(home, CliRunner())("key", "list", expect=NOT_FOUND)
    assert "run `firmseal init` first" in error_line(result.stderr)


def test_init_migrates_older_schema(home: Path) -> None:
    from firmseal.config import load_settings
    from firmseal.store import db

    home.mkdir()
    settings = load_settings()
    engine = db.make_engine(settings.database_url)
    db.migrate(engine, "0001")
    engine.dispose()
    runner = Cli(home, CliRunner())
    stale = runner("key", "list", expect=BACKEND)
    head = db.head_revision(db.make_engine(settings.database_url))
    assert f"schema is at revision 0001, expected {head}" in error_line(stale.stderr)
    assert "migrated workspace" in runner("init").stdout
    runner("key", "list")


def test_verify_refuses_without_anchor(signed: Signed, fs: Cli) -> None:
    result = fs("verify", str(signed.image), "--signature", str(signed.sig), expect=2)
    line = error_line(result.stderr)
    assert "give a trust anchor" in line
    assert "firmseal verify --help" in line


def test_signed_object_size_tampered(signed: Signed, fs: Cli, tmp_path: Path) -> None:
    document = json.loads(signed.signed_json.read_text())
    document["rawPayloadSize"] += 1
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    result = fs(
        "verify",
        str(signed.image),
        "--signed-object",
        str(tampered),
        "--public-key",
        str(signed.public_key),
        expect=1,
    )
    assert "rawPayloadSize is 51009" in error_line(result.stderr)

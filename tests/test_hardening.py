"""Cases found by trying to break the CLI: each must end in one `error:` line and no debris."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import Cli, Signed, make_signing_setup, openssl_verifies
from firmseal.config import redact_url
from test_bad_input import BACKEND, CONFLICT, INVALID, error_line, job_rows


@pytest.fixture
def ready(fs: Cli, tmp_path: Path) -> Cli:
    make_signing_setup(fs, tmp_path)
    return fs


def debris(home: Path, out: Path) -> list[Path]:
    """Temporary files a failed command must not leave behind."""
    leftovers = list(out.glob(".firmseal-*")) + list((home / "objects").rglob(".pending.*"))
    temporary = [p for p in (home / "tmp").iterdir() if p.name != "running"]
    markers = list((home / "tmp" / "running").glob("*"))
    return leftovers + temporary + markers


def test_init_keeps_lost_master_key_lost(ready: Cli) -> None:
    master = ready.home / "master.key"
    saved = master.read_bytes()
    master.unlink()
    result = ready("init", expect=BACKEND)
    line = error_line(result.stderr)
    assert "is missing but" in line
    assert "restore master.key" in line
    assert not master.exists()
    listed = ready.json("key", "list")
    assert [key["alias"] for key in listed["keys"]] == ["release", "ca/acme"]
    master.write_bytes(saved)
    master.chmod(0o600)
    ready("key", "create", "after-restore", "--spec", "ECC_NIST_P256")


def test_disabled_ca_key_issues_nothing(ready: Cli) -> None:
    ready("key", "disable", "ca/acme")
    result = ready(
        "cert",
        "issue",
        "x",
        "--ca",
        "acme",
        "--key",
        "release",
        "--subject",
        "CN=x",
        expect=CONFLICT,
    )
    assert "key 'ca/acme' is Disabled" in error_line(result.stderr)


def test_ca_key_cannot_sign_firmware(ready: Cli) -> None:
    result = ready(
        "profile",
        "put",
        "caprof",
        "--platform",
        "AWSIoTDeviceManagement-SHA256-ECDSA",
        "--key",
        "ca/acme",
        expect=INVALID,
    )
    assert "is a CA key" in error_line(result.stderr)


def test_ca_alias_prefix_reserved(ready: Cli) -> None:
    result = ready("key", "create", "ca/newca", "--spec", "ED25519", expect=INVALID)
    assert "reserved for CA keys" in error_line(result.stderr)


def test_profile_put_rejects_disabled_key(ready: Cli) -> None:
    ready("key", "create", "off", "--spec", "ECC_NIST_P256")
    ready("key", "disable", "off")
    result = ready(
        "profile",
        "put",
        "offprof",
        "--platform",
        "AWSIoTDeviceManagement-SHA256-ECDSA",
        "--key",
        "off",
        expect=CONFLICT,
    )
    assert "key 'off' is Disabled" in error_line(result.stderr)


@pytest.mark.parametrize("content", [b":ZZ\n", b"# comment\n:00000001FF\n", os.urandom(300)])
def test_malformed_hex_is_never_signed_raw(ready: Cli, tmp_path: Path, content: bytes) -> None:
    junk = tmp_path / "junk.hex"
    junk.write_bytes(content)
    out = tmp_path / "out"
    out.mkdir()
    result = ready("sign", "--profile", "wifi", str(junk), "--out-dir", str(out), expect=INVALID)
    assert "invalid Intel HEX in" in error_line(result.stderr)
    assert list(out.iterdir()) == []


def test_days_out_of_range_leaves_no_orphan_key(ready: Cli) -> None:
    for days in ("0", "99999999"):
        result = ready(
            "ca",
            "create",
            "zeroca",
            "--spec",
            "ECC_NIST_P256",
            "--subject",
            "CN=Z",
            "--days",
            days,
            expect=INVALID,
        )
        assert "expected 1 to 36500" in error_line(result.stderr)
    ready("ca", "create", "zeroca", "--spec", "ECC_NIST_P256", "--subject", "CN=Z", "--days", "10")
    result = ready(
        "cert",
        "issue",
        "c",
        "--ca",
        "acme",
        "--key",
        "release",
        "--subject",
        "CN=c",
        "--days",
        "99999999",
        expect=INVALID,
    )
    assert "expected 1 to 36500" in error_line(result.stderr)


def test_artifact_name_taken_by_folder(ready: Cli, firmware: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / f"{firmware.name}.signed.json").mkdir(parents=True)
    result = ready(
        "sign", "--profile", "wifi", str(firmware), "--out-dir", str(out), expect=INVALID
    )
    assert "a folder of that name exists" in error_line(result.stderr)
    assert sorted(path.name for path in out.iterdir()) == [f"{firmware.name}.signed.json"]
    assert debris(ready.home, out) == []
    ((status, _),) = job_rows(ready.home)
    assert status == "Failed"


def test_file_name_too_long(ready: Cli, tmp_path: Path) -> None:
    name = "a" * 250 + ".bin"
    image = tmp_path / name
    image.write_bytes(b"\x01" * 100)
    out = tmp_path / "out"
    out.mkdir()
    result = ready("sign", "--profile", "wifi", str(image), "--out-dir", str(out), expect=BACKEND)
    assert "File name too long" in error_line(result.stderr)
    assert list(out.iterdir()) == []
    assert debris(ready.home, out) == []


@pytest.mark.parametrize("content", ["[]", '{"format": "firmseal-local-key/1"}', "123"])
def test_damaged_key_file_is_one_line(
    ready: Cli, firmware: Path, tmp_path: Path, content: str
) -> None:
    uri = ready.json("key", "show", "release")["uri"]
    key_file = ready.home / "keys" / f"{uri.removeprefix('local:')}.key.json"
    key_file.write_text(content)
    out = tmp_path / "out"
    out.mkdir()
    result = ready(
        "sign", "--profile", "wifi", str(firmware), "--out-dir", str(out), expect=BACKEND
    )
    assert "key file" in error_line(result.stderr)


def test_damaged_database_is_one_line(ready: Cli) -> None:
    database = ready.home / "firmseal.db"
    with database.open("r+b") as stream:
        stream.seek(100)
        stream.write(os.urandom(4000))
    for wal in ready.home.glob("firmseal.db-*"):
        wal.unlink()
    result = ready("key", "list", expect=BACKEND)
    assert error_line(result.stderr).startswith("error: database failure")


def test_newer_schema_is_one_line(ready: Cli) -> None:
    with sqlite3.connect(ready.home / "firmseal.db") as db:
        db.execute("update alembic_version set version_num = '0099'")
    result = ready("init", expect=BACKEND)
    assert "0099" in error_line(result.stderr)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            [
                "profile",
                "put",
                "nl\n",
                "--platform",
                "AmazonFreeRTOS-Default",
                "--key",
                "release",
                "--param",
                "certname=x",
            ],
            "invalid profile name",
        ),
        (["key", "create", "k\n", "--spec", "ED25519"], "invalid key alias"),
        (["key", "create", "a/../b", "--spec", "ED25519"], "invalid key alias"),
        (["key", "create", "k/", "--spec", "ED25519"], "invalid key alias"),
        (["key", "create", "a//b", "--spec", "ED25519"], "invalid key alias"),
        (
            ["cert", "issue", "crt\n", "--ca", "acme", "--key", "release", "--subject", "CN=x"],
            "invalid certificate name",
        ),
    ],
)
def test_names_with_newlines_or_dot_segments(ready: Cli, args: list[str], needle: str) -> None:
    assert needle in error_line(ready(*args, expect=INVALID).stderr)


def _external_certificate(tmp_path: Path, key_pem: bytes, **options: object) -> Path:
    public_key = serialization.load_pem_public_key(key_pem)
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "external")])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(7)
        .not_valid_before(options.get("not_before", now - dt.timedelta(days=1)))  # type: ignore[arg-type]
        .not_valid_after(options.get("not_after", now + dt.timedelta(days=30)))  # type: ignore[arg-type]
    )
    if options.get("eku", True):
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
    path = tmp_path / "external.pem"
    path.write_bytes(
        builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    )
    return path


def test_cert_import_checks_usage_and_validity(ready: Cli, tmp_path: Path) -> None:
    key_pem = ready("key", "public-key", "release").stdout_bytes
    no_eku = _external_certificate(tmp_path, key_pem, eku=False)
    result = ready("cert", "import", "ext", "--key", "release", str(no_eku), expect=1)
    assert "has no extendedKeyUsage" in error_line(result.stderr)
    past = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    expired = _external_certificate(
        tmp_path, key_pem, not_before=past, not_after=past + dt.timedelta(days=1)
    )
    result = ready("cert", "import", "ext", "--key", "release", str(expired), expect=1)
    assert "expired at 2021-01-02" in error_line(result.stderr)
    good = _external_certificate(tmp_path, key_pem)
    assert ready.json("cert", "import", "ext", "--key", "release", str(good))["kind"] == "imported"


def test_verify_decodes_intel_hex(ready: Cli, firmware: Path, tmp_path: Path) -> None:
    hex_file = tmp_path / "fw.hex"
    subprocess.run(
        ["objcopy", "-I", "binary", "-O", "ihex", str(firmware), str(hex_file)], check=True
    )
    out = tmp_path / "out"
    out.mkdir()
    ready("sign", "--profile", "wifi", str(hex_file), "--out-dir", str(out))
    public_key = tmp_path / "release.pem"
    public_key.write_bytes(ready("key", "public-key", "release").stdout_bytes)
    report = ready.json(
        "verify",
        str(hex_file),
        "--signature",
        str(out / "fw.hex.sig"),
        "--public-key",
        str(public_key),
    )
    assert report["size"] == firmware.stat().st_size
    document = json.loads((out / "fw.hex.ota-job.json").read_text())
    assert document["afr_ota"]["files"][0]["filepath"] == "fw.bin"


@pytest.mark.parametrize(
    ("param", "needle"),
    [
        ("certnmae=x", "unknown signing parameter 'certnmae'"),
        ("fileid=0x10", "invalid signing parameter fileid='0x10'"),
        ("fileid=\u0663", "invalid signing parameter fileid"),
        ("fileid=99999999999", "invalid signing parameter fileid"),
        ("protocol=MQTT,MQTT", "invalid signing parameter protocol"),
        ("streamname=", "signing parameter streamname is empty"),
        ("certname=a\nb", "no control characters"),
    ],
)
def test_signing_parameters_checked(
    ready: Cli, firmware: Path, tmp_path: Path, param: str, needle: str
) -> None:
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
        param,
        expect=INVALID,
    )
    assert needle in error_line(result.stderr)
    assert job_rows(ready.home) == []
    result = ready(
        "profile",
        "put",
        "p9",
        "--platform",
        "AmazonFreeRTOS-Default",
        "--key",
        "release",
        "--param",
        "certname=/c.pem",
        "--param",
        param,
        expect=INVALID,
    )
    assert needle in error_line(result.stderr)


def test_job_document_given_as_signed_object(fs: Cli, signed: Signed) -> None:
    result = fs(
        "verify",
        str(signed.image),
        "--signed-object",
        str(signed.job_document),
        "--public-key",
        str(signed.public_key),
        expect=1,
    )
    assert "is an OTA job document, not a signed object" in error_line(result.stderr)


def test_leaf_certificate_rejected_as_ca(fs: Cli, signed: Signed) -> None:
    result = fs(
        "verify",
        str(signed.image),
        "--signature",
        str(signed.sig),
        "--certificate",
        str(signed.certificate),
        "--ca",
        str(signed.certificate),
        expect=INVALID,
    )
    assert "is not a CA certificate" in error_line(result.stderr)


def test_both_anchors_named(fs: Cli, signed: Signed) -> None:
    result = fs(
        "verify",
        str(signed.image),
        "--signature",
        str(signed.sig),
        "--public-key",
        str(signed.public_key),
        "--certificate",
        str(signed.certificate),
        expect=2,
    )
    assert "give one trust anchor" in error_line(result.stderr)


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_special_files_rejected(ready: Cli, tmp_path: Path, special: str) -> None:
    source = Path(special)
    if special == "fifo":
        source = tmp_path / "fifo.bin"
        os.mkfifo(source)
    out = tmp_path / "out"
    out.mkdir()
    result = ready("sign", "--profile", "wifi", str(source), "--out-dir", str(out), expect=INVALID)
    assert "is not a regular file" in error_line(result.stderr)


def test_tables_keep_ids_whole_off_a_terminal(fs: Cli, signed: Signed) -> None:
    job_id = fs.json("job", "list")["jobs"][0]["jobId"]
    assert job_id in fs("job", "list").stdout


def test_usage_errors_are_one_line(fs: Cli) -> None:
    result = fs("job", "list", "--limit", "0", expect=2)
    line = error_line(result.stderr)
    assert "--limit" in line
    assert "firmseal job list --help" in line


def test_database_url_password_redacted() -> None:
    assert redact_url("postgresql://ci:s3cret@db:5432/fs") == "postgresql://ci:***@db:5432/fs"
    assert redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert redact_url("postgresql://ci@db/fs") == "postgresql://ci@db/fs"


def start_big_sign(
    ready: Cli, tmp_path: Path, stderr: int
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start `firmseal sign` on a 1.5 GiB image in a child; return it and its out folder."""
    ready("key", "create", "dm", "--spec", "ECC_NIST_P256")
    ready(
        "profile",
        "put",
        "dm_p",
        "--platform",
        "AWSIoTDeviceManagement-SHA256-ECDSA",
        "--key",
        "dm",
    )
    big = tmp_path / "big.bin"
    with big.open("wb") as stream:
        stream.truncate(1536 * 1024 * 1024)
    out = tmp_path / "out"
    out.mkdir()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "firmseal.cli",
            "sign",
            "--profile",
            "dm_p",
            str(big),
            "--out-dir",
            str(out),
        ],
        env={**os.environ, "FIRMSEAL_HOME": str(ready.home)},
        stderr=stderr,
    )
    return process, out


def test_sigterm_marks_job_failed_and_cleans_up(ready: Cli, tmp_path: Path) -> None:
    process, out = start_big_sign(ready, tmp_path, subprocess.PIPE)
    # Wait for the running-job marker: it is written after the job row's commit, so the
    # signal lands while the image is being signed.
    running = ready.home / "tmp" / "running"
    deadline = time.monotonic() + 60
    while (
        not list(running.glob("*.json")) and time.monotonic() < deadline and process.poll() is None
    ):
        time.sleep(0.01)
    if process.poll() is not None:
        pytest.skip("signing finished before SIGTERM could be sent")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.decode().strip().splitlines() == ["error: interrupted"]
    ((status, reason),) = job_rows(ready.home)
    assert status == "Failed"
    assert reason == "interrupted by SIGTERM"
    assert list(out.iterdir()) == []
    assert debris(ready.home, out) == []


def test_master_key_check_written_once(ready: Cli) -> None:
    check = ready.home / "keys" / "master-key-check.json"
    sealed = json.loads(check.read_text())["sealed"]
    assert len(base64.b64decode(sealed)) == 12 + 25 + 16
    ready("key", "create", "again", "--spec", "ED25519")
    assert json.loads(check.read_text())["sealed"] == sealed


def test_rotate_then_sign_verifies(ready: Cli, firmware: Path, tmp_path: Path) -> None:
    ready("key", "create", "next", "--spec", "ECC_NIST_P256")
    ready("profile", "rotate", "wifi", "--key", "next")
    out = tmp_path / "out"
    out.mkdir()
    ready("sign", "--profile", "wifi", str(firmware), "--out-dir", str(out))
    public_key = tmp_path / "next.pem"
    public_key.write_bytes(ready("key", "public-key", "next").stdout_bytes)
    assert openssl_verifies(public_key, out / f"{firmware.name}.sig", firmware)


def test_closed_pipe_ends_by_sigpipe(ready: Cli) -> None:
    reader = subprocess.Popen(
        [sys.executable, "-m", "firmseal.cli", "platform", "list"],
        env={**os.environ, "FIRMSEAL_HOME": str(ready.home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None
    reader.stdout.close()
    _, stderr = reader.communicate(timeout=60)
    assert reader.returncode in (0, -signal.SIGPIPE)
    assert stderr == b""


def test_sigkill_leftovers_cleaned_by_next_sign(
    ready: Cli, firmware: Path, tmp_path: Path
) -> None:
    process, out = start_big_sign(ready, tmp_path, subprocess.DEVNULL)
    running = ready.home / "tmp" / "running"
    deadline = time.monotonic() + 60
    while (
        not list(running.glob("*.json")) and time.monotonic() < deadline and process.poll() is None
    ):
        time.sleep(0.01)
    if process.poll() is not None:
        pytest.skip("signing finished before SIGKILL could be sent")
    process.kill()
    process.wait(timeout=60)
    ((status, _),) = job_rows(ready.home)
    assert status == "InProgress"
    assert list(out.glob(".firmseal-*"))

    report = ready.json("job", "cleanup")
    (cleaned,) = report["cleanedJobIds"]
    ((status, reason),) = job_rows(ready.home)
    assert status == "Failed"
    assert reason == f"abandoned: process {process.pid} ended before the job finished"
    assert debris(ready.home, out) == []
    assert list(running.iterdir()) == []
    assert ready.json("job", "cleanup")["cleanedJobIds"] == []
    assert cleaned == ready.json("job", "list")["jobs"][0]["jobId"]


def test_live_job_is_not_cleaned(ready: Cli, tmp_path: Path) -> None:
    running = ready.home / "tmp" / "running"
    running.mkdir(parents=True)
    import socket

    marker = {
        "job_id": "00000000-0000-0000-0000-000000000001",
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "staging": str(tmp_path / "staging"),
        "pending": str(tmp_path / "pending"),
        "tmp_prefix": "hex-x-",
    }
    (running / "x.json").write_text(json.dumps(marker))
    assert ready.json("job", "cleanup")["cleanedJobIds"] == []
    assert (running / "x.json").exists()


def test_mcuboot_digest_rejects_malformed_hex(ready: Cli, tmp_path: Path) -> None:
    ready("key", "create", "mk", "--spec", "ECC_NIST_P256")
    public_key = tmp_path / "mk.pem"
    public_key.write_bytes(ready("key", "public-key", "mk").stdout_bytes)
    junk = tmp_path / "app.hex"
    junk.write_bytes(b"this is not intel hex\n")
    result = ready(
        "mcuboot",
        "digest",
        str(junk),
        "--platform",
        "MCUboot-ECDSA-P256",
        "--public-key",
        str(public_key),
        "--param",
        "version=1.0.0",
        "--out",
        str(tmp_path / "app.digest"),
        expect=INVALID,
    )
    assert "invalid Intel HEX in" in error_line(result.stderr)
    assert not (tmp_path / "app.digest").exists()


def test_stored_copy_must_be_whole(tmp_path: Path) -> None:
    from firmseal.errors import BackendError
    from firmseal.objects.local import ObjectVersion
    from firmseal.service.jobs import _check_stored_whole

    source = tmp_path / "fw.bin"
    source.write_bytes(b"\x01" * 100)
    with source.open("rb") as stream:
        _check_stored_whole(source, stream, ObjectVersion("b", "k", "v", 100))
        with pytest.raises(BackendError, match="stored 60 of the 100 bytes"):
            _check_stored_whole(source, stream, ObjectVersion("b", "k", "v", 60))

"""End to end on the embedded default: keys, CA, certificate, profile, sign, verify."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
from pathlib import Path

from conftest import Cli, Signed, openssl, openssl_verifies


def test_init_twice_changes_nothing(home: Path) -> None:
    from click.testing import CliRunner

    from firmseal.store import db

    runner = Cli(home, CliRunner())
    first = runner.json("init")
    second = runner("init")
    assert first["changed"] is True
    assert first["toRevision"] == db.head_revision(db.make_engine("sqlite://"))
    assert "nothing changed" in second.stdout
    assert (home / "master.key").stat().st_mode & 0o777 == 0o600


def test_signature_verifies_with_openssl(signed: Signed) -> None:
    assert openssl_verifies(signed.public_key, signed.sig, signed.image)


def test_verify_with_public_key(fs: Cli, signed: Signed) -> None:
    report = fs.json(
        "verify",
        str(signed.image),
        "--signature",
        str(signed.sig),
        "--public-key",
        str(signed.public_key),
    )
    assert report["verified"] is True
    assert report["size"] == signed.image.stat().st_size
    assert report["signatureAlgorithm"] == "SHA256withECDSA"


def test_verify_with_ca_chain(fs: Cli, signed: Signed) -> None:
    report = fs.json(
        "verify",
        str(signed.image),
        "--signed-object",
        str(signed.signed_json),
        "--certificate",
        str(signed.certificate),
        "--ca",
        str(signed.ca),
    )
    assert report["signer"] == "CN=Acme Release,O=Acme"
    assert report["chain"] == ["CN=Acme Release,O=Acme", "CN=Acme CA,O=Acme"]


def test_certificate_chain_verifies_with_openssl(signed: Signed) -> None:
    result = openssl(
        "verify", "-CAfile", str(signed.ca), "-purpose", "any", str(signed.certificate)
    )
    assert result.returncode == 0, result.stderr
    text = openssl("x509", "-in", str(signed.certificate), "-noout", "-text").stdout.decode()
    assert "Code Signing" in text
    assert "Digital Signature" in text
    assert "CA:FALSE" in text


def test_signed_json_matches_aws_layout(signed: Signed) -> None:
    raw = signed.signed_json.read_bytes()
    document = json.loads(raw)
    assert list(document) == ["rawPayloadSize", "signature", "signatureAlgorithm", "payload"]
    assert document["rawPayloadSize"] == signed.image.stat().st_size
    assert document["signatureAlgorithm"] == "SHA256withECDSA"
    assert base64.b64decode(document["payload"]) == signed.image.read_bytes()
    assert base64.b64decode(document["signature"]) == signed.sig.read_bytes()


def test_job_document_signature_is_one_base64_layer(signed: Signed, tmp_path: Path) -> None:
    document = json.loads(signed.job_document.read_text())
    ota = document["afr_ota"]
    assert ota["protocols"] == ["MQTT"]
    assert ota["streamname"].startswith("AFR_OTA-")
    (entry,) = ota["files"]
    assert entry["filesize"] == signed.image.stat().st_size
    assert entry["fileid"] == 0
    assert entry["certfile"] == "/certs/signer.pem"
    assert entry["filepath"] == signed.image.name
    der = tmp_path / "from-job.sig"
    der.write_bytes(base64.b64decode(entry["sig-sha256-ecdsa"], validate=True))
    assert openssl_verifies(signed.public_key, der, signed.image)


def test_job_document_http_protocol(fs: Cli, signed: Signed, tmp_path: Path) -> None:
    out = tmp_path / "http"
    out.mkdir()
    fs(
        "sign",
        "--profile",
        "wifi",
        str(signed.image),
        "--out-dir",
        str(out),
        "--param",
        "protocol=HTTP",
        "--param",
        "update_data_url=https://example.invalid/fw",
        "--param",
        "fileid=3",
        "--param",
        "filepath=/ota/fw.bin",
    )
    ota = json.loads((out / f"{signed.image.name}.ota-job.json").read_text())["afr_ota"]
    assert ota["protocols"] == ["HTTP"]
    assert "streamname" not in ota
    (entry,) = ota["files"]
    assert entry["update_data_url"] == "https://example.invalid/fw"
    assert entry["auth_scheme"] == "aws.s3.presigned"
    assert entry["fileid"] == 3
    assert entry["filepath"] == "/ota/fw.bin"


def test_job_is_recorded(fs: Cli, signed: Signed) -> None:
    (job,) = fs.json("job", "list")["jobs"]
    shown = fs.json("job", "show", job["jobId"])
    profile = fs.json("profile", "show", "wifi")
    assert shown["status"] == "Succeeded"
    assert shown["profileVersion"] == profile["profileVersion"]
    assert shown["sourceSize"] == signed.image.stat().st_size
    assert shown["source"]["bucketName"] == "firmseal-source"
    assert shown["source"]["version"]
    assert shown["requestedBy"].startswith("local:")
    # The default validity is 135 months: 11 years and 3 months after creation.
    created = dt.datetime.fromisoformat(shown["createdAt"])
    expires = dt.datetime.fromisoformat(shown["signatureExpiresAt"])
    months = (expires.year - created.year) * 12 + expires.month - created.month
    assert months == 135
    assert (expires.day, expires.time()) == (created.day, created.time())


def test_source_is_stored_as_a_new_version(fs: Cli, signed: Signed, tmp_path: Path) -> None:
    fs("sign", "--profile", "wifi", str(signed.image), "--out-dir", str(signed.out))
    jobs = fs.json("job", "list")["jobs"]
    versions = {job["source"]["version"] for job in jobs}
    assert len(versions) == 2
    stored = sorted((fs.home / "objects" / "firmseal-source").rglob("*"))
    files = [path for path in stored if path.is_file()]
    assert [path.read_bytes() == signed.image.read_bytes() for path in files] == [True, True]


def test_rotate_records_new_version(fs: Cli, signed: Signed, tmp_path: Path) -> None:
    before = fs.json("profile", "show", "wifi")
    fs("key", "create", "release-2", "--spec", "ECC_NIST_P256")
    after = fs.json("profile", "rotate", "wifi", "--key", "release-2")
    assert after["profileVersion"] != before["profileVersion"]
    assert len(after["profileVersion"]) == 10
    fs("sign", "--profile", "wifi", str(signed.image), "--out-dir", str(signed.out))
    newest = fs.json("job", "list")["jobs"][0]
    assert newest["profileVersion"] == after["profileVersion"]
    new_key = tmp_path / "release-2.pem"
    new_key.write_bytes(fs("key", "public-key", "release-2").stdout_bytes)
    assert openssl_verifies(new_key, signed.sig, signed.image)
    assert not openssl_verifies(signed.public_key, signed.sig, signed.image)


def test_public_key_c_array_compiles(fs: Cli, tmp_path: Path) -> None:
    fs("key", "create", "boot", "--spec", "ECC_NIST_P256")
    header = tmp_path / "key.h"
    header.write_bytes(fs("key", "public-key", "boot", "--format", "c").stdout_bytes)
    program = tmp_path / "dump.c"
    program.write_text(
        '#include <stdio.h>\n#include "key.h"\n'
        "int main(void) { for (unsigned i = 0; i < boot_public_key_len; i++)"
        ' printf("%02x", boot_public_key[i]); return 0; }\n'
    )
    binary = tmp_path / "dump"
    subprocess.run(["cc", "-Wall", "-Werror", "-o", str(binary), str(program)], check=True)
    printed = subprocess.run([str(binary)], capture_output=True, check=True).stdout.decode()
    der = fs("key", "public-key", "boot", "--format", "der").stdout_bytes
    assert printed == der.hex()


def test_json_output_is_one_document(fs: Cli) -> None:
    created = fs("key", "create", "k1", "--spec", "ED25519", "--json")
    document = json.loads(created.stdout)
    assert document["alias"] == "k1"
    assert document["keySpec"] == "ED25519"
    assert document["uri"].startswith("local:")
    platforms = fs.json("platform", "list")["platforms"]
    sizes = {p["platformId"]: p["maxSizeInMB"] for p in platforms}
    assert sizes["AmazonFreeRTOS-Default"] == 16
    assert sizes["AWSIoTDeviceManagement-SHA256-ECDSA"] == 2048


def test_detached_platform(fs: Cli, firmware: Path, tmp_path: Path) -> None:
    fs("key", "create", "dm", "--spec", "ECC_NIST_P256")
    fs(
        "profile",
        "put",
        "dm_profile",
        "--platform",
        "AWSIoTDeviceManagement-SHA256-ECDSA",
        "--key",
        "dm",
        "--validity",
        "30D",
    )
    out = tmp_path / "dm"
    out.mkdir()
    job = fs.json("sign", "--profile", "dm_profile", str(firmware), "--out-dir", str(out))
    assert sorted(path.name for path in out.iterdir()) == [f"{firmware.name}.sig"]
    public_key = tmp_path / "dm.pem"
    public_key.write_bytes(fs("key", "public-key", "dm").stdout_bytes)
    assert openssl_verifies(public_key, out / f"{firmware.name}.sig", firmware)
    created, expires = job["createdAt"][:10], job["signatureExpiresAt"][:10]
    gap = dt.date.fromisoformat(expires) - dt.date.fromisoformat(created)
    assert gap.days == 30


def test_intel_hex_signs_the_image_it_encodes(fs: Cli, signed: Signed, tmp_path: Path) -> None:
    hex_file = tmp_path / "fw.hex"
    subprocess.run(
        ["objcopy", "-I", "binary", "-O", "ihex", str(signed.image), str(hex_file)], check=True
    )
    out = tmp_path / "hex-out"
    out.mkdir()
    job = fs.json("sign", "--profile", "wifi", str(hex_file), "--out-dir", str(out))
    assert job["sourceSize"] == hex_file.stat().st_size
    assert openssl_verifies(signed.public_key, out / "fw.hex.sig", signed.image)

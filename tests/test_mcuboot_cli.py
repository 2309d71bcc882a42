"""`firmseal sign`, `verify`, `key public-key` and `mcuboot ...` on MCUboot platforms."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from intelhex import IntelHex

from conftest import Cli
from mcuboot_support import PLATFORM_IDS, imgtool_verify, platform, run_imgtool

SPECS = {pid: next(iter(platform(pid).key_specs)).value for pid in PLATFORM_IDS}
PARAMS = (
    "--param",
    "header-size=0x200",
    "--param",
    "pad-header=true",
    "--param",
    "slot-size=0x40000",
)


def setup_profile(fs: Cli, tmp_path: Path, platform_id: str, name: str = "app") -> Path:
    fs("key", "create", f"{name}-key", "--spec", SPECS[platform_id])
    fs("profile", "put", name, "--platform", platform_id, "--key", f"{name}-key", *PARAMS)
    public_key = tmp_path / f"{name}.pem"
    public_key.write_bytes(fs("key", "public-key", f"{name}-key").stdout_bytes)
    return public_key


@pytest.mark.parametrize("platform_id", PLATFORM_IDS)
def test_sign_and_verify_binary(platform_id: str, fs: Cli, firmware: Path, tmp_path: Path) -> None:
    public_key = setup_profile(fs, tmp_path, platform_id)
    image = tmp_path / "app.bin"
    image.write_bytes(firmware.read_bytes())
    job = fs.json(
        "sign",
        "--profile",
        "app",
        str(image),
        "--out-dir",
        str(tmp_path),
        "--param",
        "version=1.2.3+4",
        "--param",
        "security-counter=auto",
    )
    signed = tmp_path / "app.signed.bin"
    assert job["signedObjects"] == [str(signed)]
    assert imgtool_verify(public_key, signed).returncode == 0
    report = fs.json("verify", str(signed), "--public-key", str(public_key))
    assert report["format"] == "MCUboot"
    assert report["version"] == "1.2.3+4"
    assert report["securityCounter"] == 0x01020003
    assert report["imageSize"] == firmware.stat().st_size


def test_sign_and_verify_intel_hex(fs: Cli, firmware: Path, tmp_path: Path) -> None:
    public_key = setup_profile(fs, tmp_path, "MCUboot-ECDSA-P256")
    source = tmp_path / "app.hex"
    ih = IntelHex()
    ih.frombytes(firmware.read_bytes(), offset=0x0800_0000)
    ih.tofile(str(source), "hex")
    fs(
        "sign",
        "--profile",
        "app",
        str(source),
        "--out-dir",
        str(tmp_path),
        "--param",
        "version=2.0.0",
        "--param",
        "confirm=true",
    )
    signed = tmp_path / "app.signed.hex"
    assert signed.read_text().startswith(":02000004")
    assert imgtool_verify(public_key, signed).returncode == 0
    report = fs.json(
        "verify", str(signed), "--public-key", str(public_key), "--slot-size", "0x40000"
    )
    assert report["version"] == "2.0.0+0"
    assert report["headerSize"] == 0x200
    result = fs(
        "verify", str(signed), "--public-key", str(public_key), "--slot-size", "0x4000", expect=1
    )
    assert "more than the slot size of 16384 bytes" in result.stderr


def test_verify_tampered_and_foreign(fs: Cli, firmware: Path, tmp_path: Path) -> None:
    public_key = setup_profile(fs, tmp_path, "MCUboot-Ed25519")
    other_key = setup_profile(fs, tmp_path, "MCUboot-Ed25519", name="other")
    fs(
        "sign",
        "--profile",
        "app",
        str(firmware),
        "--out-dir",
        str(tmp_path),
        "--param",
        "version=1.0.0",
    )
    signed = tmp_path / f"{firmware.stem}.signed{firmware.suffix}"
    foreign = fs("verify", str(signed), "--public-key", str(other_key), expect=1)
    assert "no trust anchor matches" in foreign.stderr
    data = bytearray(signed.read_bytes())
    data[0x300] ^= 0x01
    signed.write_bytes(bytes(data))
    tampered = fs("verify", str(signed), "--public-key", str(public_key), expect=1)
    assert "changed after signing" in tampered.stderr


def test_verify_rollback(fs: Cli, firmware: Path, tmp_path: Path) -> None:
    public_key = setup_profile(fs, tmp_path, "MCUboot-ECDSA-P384")
    fs(
        "sign",
        "--profile",
        "app",
        str(firmware),
        "--out-dir",
        str(tmp_path),
        "--param",
        "version=1.0.0",
        "--param",
        "security-counter=4",
    )
    signed = tmp_path / f"{firmware.stem}.signed{firmware.suffix}"
    fs("verify", str(signed), "--public-key", str(public_key), "--security-counter", "4")
    rejected = fs(
        "verify", str(signed), "--public-key", str(public_key), "--security-counter", "5", expect=1
    )
    assert "security counter 4, below the device's stored counter 5" in rejected.stderr


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ("align=3", "invalid signing parameter align='3'"),
        ("version=256.0.0", "major number from 0 to 255"),
        ("public-key-format=pem", "hash (KEYHASH TLV) or full"),
        ("slotsize=4096", "unknown signing parameter 'slotsize'"),
    ],
)
def test_bad_parameter_is_one_line(
    param: str, expected: str, fs: Cli, firmware: Path, tmp_path: Path
) -> None:
    setup_profile(fs, tmp_path, "MCUboot-ECDSA-P256")
    version = () if param.startswith("version") else ("--param", "version=1.0.0")
    result = fs(
        "sign",
        "--profile",
        "app",
        str(firmware),
        "--out-dir",
        str(tmp_path),
        *version,
        "--param",
        param,
        expect=2,
    )
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1
    assert fs.json("job", "list")["jobs"] == []


def test_missing_version(fs: Cli, firmware: Path, tmp_path: Path) -> None:
    setup_profile(fs, tmp_path, "MCUboot-ECDSA-P256")
    result = fs("sign", "--profile", "app", str(firmware), "--out-dir", str(tmp_path), expect=2)
    assert "missing signing parameter version" in result.stderr
    assert fs.json("job", "list")["jobs"] == []


def test_profile_put_rejects_bad_parameter(fs: Cli) -> None:
    fs("key", "create", "boot", "--spec", "ECC_NIST_P256")
    result = fs(
        "profile",
        "put",
        "app",
        "--platform",
        "MCUboot-ECDSA-P256",
        "--key",
        "boot",
        "--param",
        "align=3",
        expect=2,
    )
    assert "invalid signing parameter align='3'" in result.stderr
    fs(
        "profile",
        "put",
        "app",
        "--platform",
        "MCUboot-ECDSA-P256",
        "--key",
        "boot",
        "--param",
        "align=4",
    )


def test_verify_needs_signature_for_other_files(fs: Cli, firmware: Path, tmp_path: Path) -> None:
    public_key = setup_profile(fs, tmp_path, "MCUboot-ECDSA-P256")
    result = fs("verify", str(firmware), "--public-key", str(public_key), expect=2)
    assert "is not an MCUboot image" in result.stderr


def c_array_bytes(text: str) -> bytes:
    body = text[text.index("{") : text.rindex("}")] if "{" in text else text
    return bytes(int(value, 16) for value in re.findall(r"0x([0-9a-f]{2})", body))


def rust_array_bytes(text: str) -> bytes:
    return bytes(
        int(value, 16) for value in re.findall(r"0x([0-9a-f]{2})", text[text.index("&[") :])
    )


@pytest.mark.parametrize("platform_id", PLATFORM_IDS)
def test_public_key_formats_match_imgtool(platform_id: str, fs: Cli, tmp_path: Path) -> None:
    public_key = setup_profile(fs, tmp_path, platform_id)
    ours_c = fs("key", "public-key", "app-key", "--format", "c").stdout
    ours_rust = fs("key", "public-key", "app-key", "--format", "rust").stdout
    ours_hash = fs("key", "public-key", "app-key", "--format", "hash").stdout
    theirs_c = run_imgtool("getpub", "-k", str(public_key), "-e", "lang-c").stdout
    theirs_rust = run_imgtool("getpub", "-k", str(public_key), "-e", "lang-rust").stdout
    theirs_hash = run_imgtool("getpubhash", "-k", str(public_key)).stdout
    assert c_array_bytes(ours_c) == c_array_bytes(theirs_c)
    assert rust_array_bytes(ours_rust) == rust_array_bytes(theirs_rust)
    key_bytes = c_array_bytes(ours_c)
    if platform_id == "MCUboot-ECDSA-P384":
        # imgtool sign writes a P-384 key's KEYHASH with SHA-384, the image hash, but
        # imgtool getpubhash prints SHA-256 whatever the key.
        assert c_array_bytes(ours_hash) == hashlib.sha384(key_bytes).digest()
    else:
        assert c_array_bytes(ours_hash) == c_array_bytes(theirs_hash)


def test_public_key_c_and_hash_compile(fs: Cli, tmp_path: Path) -> None:
    fs("key", "create", "boot", "--spec", "RSA_2048")
    header = tmp_path / "key.h"
    header.write_bytes(
        fs("key", "public-key", "boot", "--format", "c").stdout_bytes
        + fs("key", "public-key", "boot", "--format", "hash").stdout_bytes
    )
    program = tmp_path / "dump.c"
    program.write_text(
        '#include <stdio.h>\n#include "key.h"\n'
        'int main(void) { printf("%u %u", boot_public_key_len, boot_public_key_hash_len);'
        " return 0; }\n"
    )
    binary = tmp_path / "dump"
    subprocess.run(["cc", "-Wall", "-Werror", "-o", str(binary), str(program)], check=True)
    printed = subprocess.run([str(binary)], capture_output=True, check=True).stdout.decode()
    assert printed == "270 32"


def test_digest_matches_signing_job(fs: Cli, firmware: Path, tmp_path: Path) -> None:
    setup_profile(fs, tmp_path, "MCUboot-ECDSA-P256")
    version = ("--param", "version=1.1.0")
    exported = fs.json("mcuboot", "digest", str(firmware), "--profile", "app", *version)
    job = fs.json("sign", "--profile", "app", str(firmware), "--out-dir", str(tmp_path), *version)
    assert exported["digest"] == job["imageDigest"]
    assert exported["hashAlgorithm"] == "sha256"


def test_external_rsa_signing(fs: Cli, firmware: Path, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    public_pem = tmp_path / "hsm.pem"
    public_pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    target = (
        "--platform",
        "MCUboot-RSA-3072-PSS",
        "--public-key",
        str(public_pem),
        "--param",
        "version=3.0.0",
        "--param",
        "pad-header=true",
    )
    digest_file = tmp_path / "app.digest"
    printed = fs("mcuboot", "digest", str(firmware), *target, "--out", str(digest_file))
    digest = digest_file.read_bytes()
    assert printed.stdout.strip() == digest.hex()

    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    signature = key.sign(digest, pss, utils.Prehashed(hashes.SHA256()))
    signature_file = tmp_path / "app.sig.b64"
    signature_file.write_bytes(base64.b64encode(signature))
    out = tmp_path / "dist"
    out.mkdir()
    fs(
        "mcuboot",
        "attach-signature",
        str(firmware),
        "--signature",
        str(signature_file),
        *target,
        "--out-dir",
        str(out),
    )
    signed = out / f"{firmware.stem}.signed{firmware.suffix}"
    assert imgtool_verify(public_pem, signed).returncode == 0

    wrong = fs(
        "mcuboot",
        "attach-signature",
        str(firmware),
        "--signature",
        str(signature_file),
        *target[:-2],
        "--param",
        "pad-header=false",
        "--param",
        "header-size=32",
        "--out-dir",
        str(out),
        expect=2,
    )
    assert "does not start with 32 zero bytes" in wrong.stderr


def test_external_signature_must_verify(fs: Cli, firmware: Path, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = tmp_path / "hsm.pem"
    public_pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    signature_file = tmp_path / "bad.sig"
    signature_file.write_bytes(bytes(256))
    result = fs(
        "mcuboot",
        "attach-signature",
        str(firmware),
        "--signature",
        str(signature_file),
        "--platform",
        "MCUboot-RSA-2048-PSS",
        "--public-key",
        str(public_pem),
        "--param",
        "version=1.0.0",
        "--param",
        "pad-header=true",
        "--out-dir",
        str(tmp_path),
        expect=2,
    )
    assert "does not verify over this image's digest" in result.stderr
    assert not (tmp_path / f"{firmware.stem}.signed{firmware.suffix}").exists()


@pytest.mark.parametrize(
    ("key", "platform_id", "message"),
    [
        (
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "MCUboot-ECDSA-P256",
            "is an RSA_2048 key, but platform MCUboot-ECDSA-P256 signs with ECC_NIST_P256",
        ),
        (
            ec.generate_private_key(ec.SECP256R1()),
            "MCUboot-RSA-2048-PSS",
            "is an ECC_NIST_P256 key, but platform MCUboot-RSA-2048-PSS signs with RSA_2048",
        ),
        (
            ed25519.Ed25519PrivateKey.generate(),
            "MCUboot-ECDSA-P384",
            "is an ED25519 key, but platform MCUboot-ECDSA-P384 signs with ECC_NIST_P384",
        ),
    ],
)
def test_external_key_must_fit_platform(
    fs: Cli,
    firmware: Path,
    tmp_path: Path,
    key: PrivateKeyTypes,
    platform_id: str,
    message: str,
) -> None:
    public_pem = tmp_path / "hsm.pem"
    public_pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    result = fs(
        "mcuboot",
        "digest",
        str(firmware),
        "--platform",
        platform_id,
        "--public-key",
        str(public_pem),
        "--param",
        "version=1.0.0",
        expect=2,
    )
    assert message in result.stderr


def test_profile_put_rejects_slot_below_header(fs: Cli) -> None:
    fs("key", "create", "boot", "--spec", "ECC_NIST_P256")
    result = fs(
        "profile",
        "put",
        "app",
        "--platform",
        "MCUboot-ECDSA-P256",
        "--key",
        "boot",
        "--param",
        "slot-size=0x20",
        "--param",
        "header-size=0x200",
        expect=2,
    )
    assert result.stderr == (
        "error: invalid signing parameter slot-size=32 (0x20): no image fits, because "
        "header-size=512 (0x200), at least 88 bytes of TLVs and the 432-byte boot trailer "
        "need at least 1032 bytes; raise slot-size, or lower header-size or max-sectors\n"
    )
    assert fs.json("profile", "list")["profiles"] == []


def test_minimum_slot_signs_empty_image(fs: Cli, tmp_path: Path) -> None:
    # Ed25519 signatures have a fixed size, so the minimum slot size is exact: a header-only
    # image fits a slot of that size, and profile put rejects one byte less.
    minimum = 32 + 4 + 36 + 36 + 68 + 432
    fs("key", "create", "boot", "--spec", "ED25519")
    put = ("profile", "put", "app", "--platform", "MCUboot-Ed25519", "--key", "boot")
    result = fs(*put, "--param", f"slot-size={minimum - 1}", "--param", "pad=true", expect=2)
    assert f"need at least {minimum} bytes" in result.stderr
    fs(*put, "--param", f"slot-size={minimum}", "--param", "pad=true")
    image = tmp_path / "empty.bin"
    image.write_bytes(bytes(32))
    out = tmp_path / "out"
    out.mkdir()
    fs("sign", "--profile", "app", str(image), "--out-dir", str(out), "--param", "version=1.0.0")
    assert (out / "empty.signed.bin").stat().st_size == minimum


def test_sign_rejects_version_with_space(fs: Cli, firmware: Path, tmp_path: Path) -> None:
    setup_profile(fs, tmp_path, "MCUboot-ECDSA-P256")
    result = fs(
        "sign",
        "--profile",
        "app",
        str(firmware),
        "--out-dir",
        str(tmp_path),
        "--param",
        "version=1.2.3 ",
        expect=2,
    )
    assert "invalid signing parameter version='1.2.3 '" in result.stderr
    assert fs.json("job", "list")["jobs"] == []

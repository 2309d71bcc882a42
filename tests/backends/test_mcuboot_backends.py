"""Every MCUboot platform signs with keys in SoftHSM2 and in the KMS endpoint.

The format only requests from the backend for one signature over a digest, so imgtool must accept
an image whether the key lives in the local store, a PKCS#11 token or KMS.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.test_cli_backends import aws_env, pkcs11_env  # noqa: F401  (fixtures)
from conftest import Cli
from mcuboot_support import PLATFORM_IDS, imgtool_verify

SPECS = {
    "MCUboot-ECDSA-P256": "ECC_NIST_P256",
    "MCUboot-ECDSA-P384": "ECC_NIST_P384",
    "MCUboot-Ed25519": "ED25519",
    "MCUboot-RSA-2048-PSS": "RSA_2048",
    "MCUboot-RSA-3072-PSS": "RSA_3072",
}


@pytest.mark.usefixtures("pkcs11_env", "aws_env")
@pytest.mark.parametrize("backend", ["pkcs11", "aws-kms"])
@pytest.mark.parametrize("platform_id", PLATFORM_IDS)
def test_mcuboot_platform_with_backend(
    fs: Cli, firmware: Path, tmp_path: Path, backend: str, platform_id: str
) -> None:
    spec = SPECS[platform_id]
    if backend == "aws-kms" and spec == "ED25519":
        result = fs("key", "create", "k", "--spec", spec, "--backend", backend, expect=2)
        assert "ED25519" in result.stderr
        return
    fs("key", "create", "k", "--spec", spec, "--backend", backend)
    fs(
        "profile",
        "put",
        "app",
        "--platform",
        platform_id,
        "--key",
        "k",
        "--param",
        "pad-header=true",
        "--param",
        "header-size=0x200",
    )
    image = tmp_path / "app.bin"
    image.write_bytes(firmware.read_bytes())
    fs(
        "sign",
        "--profile",
        "app",
        str(image),
        "--out-dir",
        str(tmp_path),
        "--param",
        "version=1.0.0",
    )
    public_key = tmp_path / "k.pem"
    public_key.write_bytes(fs("key", "public-key", "k").stdout_bytes)
    signed = tmp_path / "app.signed.bin"
    verified = imgtool_verify(public_key, signed)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = fs.json("verify", str(signed), "--public-key", str(public_key))
    assert report["version"] == "1.0.0+0"

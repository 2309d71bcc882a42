"""Fixtures for the key backend tests: a SoftHSM2 token and a guard against real AWS."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backends.kms_endpoint import digest_aware_moto
from firmseal.kms.pkcs11_config import Pkcs11Config
from firmseal.kms.pkcs11_session import close_pools
from firmseal.kms.secret import Secret

MODULE_CANDIDATES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/local/lib/softhsm/libsofthsm2.so"),
)
TOKEN = "firmseal-test"
SPARE_TOKEN = "firmseal-spare"


@dataclass(frozen=True)
class SoftHsm:
    """A SoftHSM2 installation whose tokens live in a temporary folder."""

    module: Path
    config_file: Path
    pin: str

    def init_token(self, label: str) -> None:
        subprocess.run(
            [
                "softhsm2-util",
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                self.pin,
                "--so-pin",
                secrets.token_hex(8),
            ],
            check=True,
            capture_output=True,
        )

    def delete_token(self, label: str) -> None:
        subprocess.run(
            ["softhsm2-util", "--delete-token", "--token", label], check=True, capture_output=True
        )

    def config(self, token: str = TOKEN, pin: str | None = None) -> Pkcs11Config:
        return Pkcs11Config(self.module, token, Secret(self.pin if pin is None else pin))


def _find_module() -> Path:
    for candidate in MODULE_CANDIDATES:
        if candidate.is_file():
            return candidate
    pytest.fail("SoftHSM2 is not installed; run `apt-get install -y softhsm2`")


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """Initialise fresh tokens in a temporary folder before the module is first loaded.

    SoftHSM2 reads SOFTHSM2_CONF when the module is initialised, and python-pkcs11 loads a
    module once per process, so every test in the run shares this folder.
    """
    if shutil.which("softhsm2-util") is None:
        pytest.fail("softhsm2-util is missing; run `apt-get install -y softhsm2`")
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    config_file = folder / "softhsm2.conf"
    config_file.write_text(
        f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n"
        "log.level = ERROR\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(config_file))
        hsm = SoftHsm(_find_module(), config_file, secrets.token_hex(8))
        hsm.init_token(TOKEN)
        hsm.init_token(SPARE_TOKEN)
        yield hsm
    close_pools()


@pytest.fixture(autouse=True)
def _close_pkcs11_sessions() -> Iterator[None]:
    """Log out of every token after each test, so a test never inherits another's login."""
    yield
    close_pools()


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point botocore at a closed loopback port and fake credentials unless a test overrides.

    Also turns off the EC2 instance metadata lookup, which would otherwise leave loopback.
    """
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_KMS", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config-absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials-absent"))


@pytest.fixture(scope="session")
def kms_url() -> Iterator[str]:
    """A digest-aware moto KMS server on a random 127.0.0.1 port, shared by the run."""
    with digest_aware_moto() as url:
        yield url

"""Shared fixtures: a fresh workspace per test, and a CLI runner bound to it."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from firmseal.cli.main import cli

REPO = Path(__file__).resolve().parent.parent
FIRMWARE = REPO / "assets" / "firmware" / "ath9k_htc" / "htc_9271-1.4.0.fw"


@dataclass
class Cli:
    """Runs `firmseal` in-process against one workspace."""

    home: Path
    runner: CliRunner

    def __call__(self, *args: str, expect: int = 0) -> Result:
        result = self.runner.invoke(cli, list(args), catch_exceptions=False, prog_name="firmseal")
        assert result.exit_code == expect, (
            f"firmseal {' '.join(args)} exited {result.exit_code}, expected {expect}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("FIRMSEAL_HOME", str(home))
    for name in ("FIRMSEAL_MASTER_KEY", "FIRMSEAL_DATABASE_URL", "FIRMSEAL_REGION"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def fs(home: Path) -> Iterator[Cli]:
    """An initialised workspace."""
    runner = Cli(home, CliRunner())
    runner("init")
    yield runner


@pytest.fixture
def firmware(tmp_path: Path) -> Path:
    """A copy of the real AR9271 firmware image shipped in assets/."""
    copy = tmp_path / FIRMWARE.name
    shutil.copyfile(FIRMWARE, copy)
    return copy


@dataclass
class Signed:
    """A FreeRTOS profile with a CA-issued certificate, and one signed image."""

    image: Path
    out: Path
    public_key: Path
    certificate: Path
    ca: Path

    @property
    def sig(self) -> Path:
        return self.out / f"{self.image.name}.sig"

    @property
    def signed_json(self) -> Path:
        return self.out / f"{self.image.name}.signed.json"

    @property
    def job_document(self) -> Path:
        return self.out / f"{self.image.name}.ota-job.json"


def make_signing_setup(fs: Cli, tmp_path: Path) -> tuple[Path, Path, Path]:
    fs("key", "create", "release", "--spec", "ECC_NIST_P256")
    fs("ca", "create", "acme", "--spec", "ECC_NIST_P384", "--subject", "CN=Acme CA,O=Acme")
    fs(
        "cert",
        "issue",
        "release-cert",
        "--ca",
        "acme",
        "--key",
        "release",
        "--subject",
        "CN=Acme Release,O=Acme",
        "--days",
        "365",
    )
    fs(
        "profile",
        "put",
        "wifi",
        "--platform",
        "AmazonFreeRTOS-Default",
        "--key",
        "release",
        "--certificate",
        "release-cert",
        "--param",
        "certname=/certs/signer.pem",
    )
    public_key = tmp_path / "release.pem"
    public_key.write_bytes(fs("key", "public-key", "release").stdout_bytes)
    certificate = tmp_path / "release-cert.pem"
    certificate.write_text(fs("cert", "export", "release-cert").stdout)
    ca = tmp_path / "acme.pem"
    ca.write_text(fs("ca", "export", "acme").stdout)
    return public_key, certificate, ca


@pytest.fixture
def signed(fs: Cli, firmware: Path, tmp_path: Path) -> Signed:
    public_key, certificate, ca = make_signing_setup(fs, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    fs("sign", "--profile", "wifi", str(firmware), "--out-dir", str(out))
    return Signed(firmware, out, public_key, certificate, ca)


def openssl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=False)


def openssl_verifies(public_key: Path, signature: Path, image: Path) -> bool:
    result = openssl(
        "dgst", "-sha256", "-verify", str(public_key), "-signature", str(signature), str(image)
    )
    return result.returncode == 0 and b"Verified OK" in result.stdout


@dataclass
class ApiEnv:
    """A running API server on one database backend, with principals and a source object."""

    server: Any
    admin: dict[str, str]
    user: dict[str, str]
    certificate_arn: str
    source_version: str
    backend: str

    @property
    def url(self) -> str:
        return str(self.server.url)

    @property
    def workspace(self) -> Any:
        return self.server.workspace

    def client(self, credentials: dict[str, str] | None = None) -> Any:
        from api_server import signer_client

        return signer_client(self.url, credentials or self.admin)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiEnv]:
    """A real `firmseal serve` for the module, on SQLite and on PostgreSQL."""
    import contextlib

    from api_server import FIRMWARE, Workspace, postgres_database, start_server

    home = tmp_path_factory.mktemp(f"api-{request.param}")
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            url = stack.enter_context(postgres_database())
        else:
            url = f"sqlite:///{home / 'firmseal.db'}"
        workspace = Workspace(home, url)
        material = workspace.setup_signing_material()
        admin = workspace.principal("admin", admin=True)
        user = workspace.principal("alice")
        version = workspace.put_object("firmware-src", "releases/fw.bin", FIRMWARE)
        server = start_server(workspace)
        stack.callback(server.stop)
        yield ApiEnv(server, admin, user, material["certificateArn"], version, request.param)

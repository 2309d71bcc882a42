"""A real firmseal API server for tests: a workspace, principals, and `firmseal serve`."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psycopg
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from click.testing import CliRunner

from firmseal.cli.main import cli

REPO = Path(__file__).resolve().parent.parent
FIRMWARE = REPO / "assets" / "firmware" / "ath9k_htc" / "htc_9271-1.4.0.fw"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REGION = "us-east-1"
FIRMSEAL = str(Path(sys.executable).parent / "firmseal")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create a database with a random name for one test module, and drop it afterwards."""
    name = f"firmseal_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Workspace:
    """A firmseal home with a database, driven through the CLI in-process."""

    home: Path
    database_url: str
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {
            "FIRMSEAL_HOME": str(self.home),
            "FIRMSEAL_DATABASE_URL": self.database_url,
            "FIRMSEAL_REGION": REGION,
        }

    def run(self, *args: str) -> str:
        result = CliRunner(env=self.env).invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, f"firmseal {' '.join(args)}: {result.output}"
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json"))

    def principal(self, name: str, admin: bool = False) -> dict[str, str]:
        flags = ["--admin"] if admin else []
        document: dict[str, str] = self.json("principal", "create", name, *flags)
        return document

    def setup_signing_material(self) -> dict[str, str]:
        """Create a P-256 key, a CA and a code-signing certificate; return their ARNs."""
        self.run("init")
        self.run("key", "create", "release", "--spec", "ECC_NIST_P256")
        self.run("ca", "create", "acme", "--spec", "ECC_NIST_P384", "--subject", "CN=Acme CA")
        cert = self.json(
            "cert",
            "issue",
            "release-cert",
            "--ca",
            "acme",
            "--key",
            "release",
            "--subject",
            "CN=Acme Release",
            "--days",
            "365",
        )
        return {"certificateArn": cert["certificateArn"]}

    def put_object(self, bucket: str, key: str, path: Path) -> str:
        version: str = self.json("object", "put", bucket, key, str(path))["versionId"]
        return version


@dataclass
class Server:
    """One `firmseal serve` process on 127.0.0.1 and a random free port."""

    workspace: Workspace
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    workspace: Workspace,
    *args: str,
    extra_env: dict[str, str] | None = None,
    host_url: str | None = None,
) -> Server:
    port = free_port()
    log_path = workspace.home / f"serve-{port}.log"
    env = {**os.environ, **workspace.env, **(extra_env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [FIRMSEAL, "-v", "serve", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(workspace, port, process, log_path)
    wait_healthy(server)
    return server


def wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"firmseal serve exited:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"firmseal serve did not become healthy:\n{server.log()}")


def signer_client(
    url: str, credentials: dict[str, str], *, inject_host_prefix: bool = False
) -> Any:
    return boto3.client(
        "signer",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        config=Config(
            inject_host_prefix=inject_host_prefix,
            retries={"max_attempts": 1, "mode": "standard"},
        ),
    )


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_type(self) -> str | None:
        return self.headers.get("x-amzn-errortype")


def raw_request(
    url: str,
    method: str,
    path: str,
    body: bytes = b"",
    credentials: dict[str, str] | None = None,
    *,
    headers: dict[str, str] | None = None,
    signed_at: dt.datetime | None = None,
    send_body: bytes | None = None,
) -> RawResponse:
    """Send a request, SigV4-signed with `credentials` unless None; `send_body` replaces the
    body after signing, to model a replay with a changed body."""
    request = AWSRequest(method=method, url=f"{url}{path}", data=body, headers=headers or {})
    if credentials is not None:
        signer = SigV4Auth(
            Credentials(credentials["AccessKeyId"], credentials["SecretAccessKey"]),
            "signer",
            REGION,
        )
        if signed_at is None:
            signer.add_auth(request)
        else:
            _sign_at(signer, request, signed_at)
    prepared = request.prepare()
    data = prepared.body if send_body is None else send_body
    outgoing = urllib.request.Request(
        prepared.url, data=data or None, method=method, headers=dict(prepared.headers.items())
    )
    try:
        with urllib.request.urlopen(outgoing, timeout=30) as response:
            return RawResponse(response.status, _lower(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return RawResponse(error.code, _lower(error.headers), error.read())


def _lower(headers: Any) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def _sign_at(signer: SigV4Auth, request: AWSRequest, moment: dt.datetime) -> None:
    """Sign as if the clock read `moment` (for expired-signature tests)."""
    from unittest import mock

    naive = moment.astimezone(dt.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=naive):
        signer.add_auth(request)

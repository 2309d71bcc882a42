"""Real clients: the AWS CLI, the `data-` host prefix of GetRevocationStatus, moto S3."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from api_server import (
    FIRMWARE,
    Workspace,
    free_port,
    signer_client,
    start_server,
)
from conftest import ApiEnv, openssl_verifies

IOT = "AWSIoTDeviceManagement-SHA256-ECDSA"
AWS = str(Path(sys.executable).parent / "aws")


def aws_cli(api: ApiEnv, tmp_path: Path, *args: str, **extra_env: str) -> Any:
    """Run `aws signer ...` with only the server's credentials: no file of the machine's."""
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\n")
    credentials = tmp_path / "aws-credentials"
    credentials.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_ACCESS_KEY_ID": api.admin["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": api.admin["SecretAccessKey"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra_env,
    }
    result = subprocess.run(
        [
            AWS,
            "signer",
            *args,
            "--endpoint-url",
            api.url,
            "--region",
            "us-east-1",
            "--output",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_aws_cli_smoke(api: ApiEnv, tmp_path: Path) -> None:
    platforms = aws_cli(api, tmp_path, "list-signing-platforms")
    assert IOT in {p["platformId"] for p in platforms["platforms"]}
    name = f"cli_{uuid.uuid4().hex[:8]}"
    created = aws_cli(
        api,
        tmp_path,
        "put-signing-profile",
        "--profile-name",
        name,
        "--platform-id",
        IOT,
        "--signing-material",
        f"certificateArn={api.certificate_arn}",
    )
    assert created["arn"].endswith(f"/signing-profiles/{name}")
    source = json.dumps(
        {
            "s3": {
                "bucketName": "firmware-src",
                "key": "releases/fw.bin",
                "version": api.source_version,
            }
        }
    )
    destination = json.dumps({"s3": {"bucketName": "cli-out", "prefix": "signed/"}})
    started = aws_cli(
        api,
        tmp_path,
        "start-signing-job",
        "--source",
        source,
        "--destination",
        destination,
        "--profile-name",
        name,
    )
    job_id = started["jobId"]
    deadline = time.monotonic() + 60
    job = aws_cli(api, tmp_path, "describe-signing-job", "--job-id", job_id)
    while job["status"] == "InProgress" and time.monotonic() < deadline:
        time.sleep(0.1)
        job = aws_cli(api, tmp_path, "describe-signing-job", "--job-id", job_id)
    assert job["status"] == "Succeeded", job
    assert job["signedObject"]["s3"]["key"] == f"signed/{job_id}.sig"


@pytest.fixture
def hosts_entry() -> Iterator[str]:
    """Map NAME and data-NAME to 127.0.0.1 in /etc/hosts for one test, then remove them."""
    hosts = Path("/etc/hosts")
    if not os.access(hosts, os.W_OK):
        pytest.skip("/etc/hosts is not writable, so no test host name can be added")
    name = f"signer-{uuid.uuid4().hex[:8]}.firmseal.test"
    marker = f"# firmseal test {name}"
    original = hosts.read_text()
    with hosts.open("a") as out:
        out.write(f"\n127.0.0.1 {name} data-{name} {marker}\n")
    try:
        yield name
    finally:
        kept = [line for line in hosts.read_text().splitlines() if marker not in line]
        hosts.write_text(
            "\n".join(kept).rstrip("\n") + "\n"
            if original.endswith("\n")
            else "\n".join(kept).rstrip("\n")
        )


def revocation_arguments(api: ApiEnv) -> dict[str, Any]:
    name = f"host_{uuid.uuid4().hex[:8]}"
    created = api.client().put_signing_profile(
        profileName=name, platformId=IOT, signingMaterial={"certificateArn": api.certificate_arn}
    )
    return {
        "signatureTimestamp": dt.datetime.now(dt.UTC),
        "platformId": IOT,
        "profileVersionArn": created["profileVersionArn"],
        "jobArn": f"arn:aws:signer:us-east-1:123456789012:/signing-jobs/{uuid.uuid4()}",
        "certificateHashes": ["ab" * 96],
    }


def test_revocation_status_without_host_prefix(api: ApiEnv) -> None:
    signer = signer_client(api.url, api.admin, inject_host_prefix=False)
    status = signer.get_revocation_status(**revocation_arguments(api))
    assert status["revokedEntities"] == []


def test_aws_cli_revocation_status_without_prefix(api: ApiEnv, tmp_path: Path) -> None:
    arguments = revocation_arguments(api)
    status = aws_cli(
        api,
        tmp_path,
        "get-revocation-status",
        "--signature-timestamp",
        arguments["signatureTimestamp"].isoformat(),
        "--platform-id",
        IOT,
        "--profile-version-arn",
        arguments["profileVersionArn"],
        "--job-arn",
        arguments["jobArn"],
        "--certificate-hashes",
        *arguments["certificateHashes"],
        AWS_DISABLE_HOST_PREFIX_INJECTION="true",
    )
    assert status == {"revokedEntities": []}


def test_revocation_status_through_data_host(api: ApiEnv, hosts_entry: str) -> None:
    assert socket.gethostbyname(f"data-{hosts_entry}") == "127.0.0.1"
    url = f"http://{hosts_entry}:{api.server.port}"
    signer = signer_client(url, api.admin, inject_host_prefix=True)
    status = signer.get_revocation_status(**revocation_arguments(api))
    assert status["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert status["revokedEntities"] == []


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 and a random free port."""
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_signing_through_s3_endpoint(moto_s3: str, tmp_path: Path) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_s3,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    for bucket in ("s3-src", "s3-out"):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    workspace = Workspace(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'firmseal.db'}")
    workspace.env.update(
        {
            "FIRMSEAL_S3_ENDPOINT_URL": moto_s3,
            "FIRMSEAL_S3_ACCESS_KEY_ID": "test",
            "FIRMSEAL_S3_SECRET_ACCESS_KEY": "test",
        }
    )
    material = workspace.setup_signing_material()
    admin = workspace.principal("admin", admin=True)
    version = workspace.put_object("s3-src", "fw.bin", FIRMWARE)
    listed = workspace.json("object", "list", "s3-src")["objects"]
    assert listed == [{"key": "fw.bin", "versionId": version, "size": FIRMWARE.stat().st_size}]
    server = start_server(workspace)
    try:
        signer = signer_client(server.url, admin)
        signer.put_signing_profile(profileName="s3prof", platformId=IOT, signingMaterial=material)
        job_id = signer.start_signing_job(
            source={"s3": {"bucketName": "s3-src", "key": "fw.bin", "version": version}},
            destination={"s3": {"bucketName": "s3-out", "prefix": "signed/"}},
            profileName="s3prof",
            clientRequestToken="s3-token",
        )["jobId"]
        deadline = time.monotonic() + 60
        job = signer.describe_signing_job(jobId=job_id)
        while job["status"] == "InProgress" and time.monotonic() < deadline:
            time.sleep(0.05)
            job = signer.describe_signing_job(jobId=job_id)
    finally:
        server.stop()
    assert job["status"] == "Succeeded", job.get("statusReason")
    signature = tmp_path / "fw.sig"
    signature.write_bytes(
        s3.get_object(Bucket="s3-out", Key=f"signed/{job_id}.sig")["Body"].read()
    )
    public_key = tmp_path / "release.pem"
    public_key.write_text(workspace.run("key", "public-key", "release"))
    assert openssl_verifies(public_key, signature, FIRMWARE)
    fetched = tmp_path / "fetched.bin"
    workspace.run("object", "get", "s3-src", "fw.bin", str(fetched), "--version-id", version)
    assert fetched.read_bytes() == FIRMWARE.read_bytes()

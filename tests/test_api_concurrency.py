"""Several HTTP worker processes and signing workers on one PostgreSQL database."""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError

from api_server import (
    FIRMSEAL,
    FIRMWARE,
    Server,
    Workspace,
    postgres_database,
    signer_client,
    start_server,
)
from firmseal.config import load_settings
from firmseal.objects.store import open_object_store
from firmseal.service.queue import Outcome, SigningQueue
from firmseal.service.workspace import Workspace as ServiceWorkspace

IOT = "AWSIoTDeviceManagement-SHA256-ECDSA"


class Cluster:
    def __init__(
        self,
        server: Server,
        admin: dict[str, str],
        certificate_arn: str,
        version: str,
        database_url: str,
    ) -> None:
        self.server = server
        self.admin = admin
        self.certificate_arn = certificate_arn
        self.version = version
        self.database_url = database_url

    def execute(self, sql: str, *args: Any) -> None:
        with psycopg.connect(self.database_url) as connection:
            connection.execute(sql, args)

    def scalar(self, sql: str, *args: Any) -> Any:
        with psycopg.connect(self.database_url) as connection:
            row = connection.execute(sql, args).fetchone()
        assert row is not None
        return row[0]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """`firmseal serve --workers 4` on PostgreSQL, with no embedded signing workers."""
    home = tmp_path_factory.mktemp("cluster")
    with postgres_database() as url:
        workspace = Workspace(home, url)
        material = workspace.setup_signing_material()
        admin = workspace.principal("admin", admin=True)
        version = workspace.put_object("firmware-src", "fw.bin", FIRMWARE)
        server = start_server(workspace, "--workers", "4", "--signing-workers", "0")
        try:
            yield Cluster(server, admin, material["certificateArn"], version, url)
        finally:
            server.stop()


def run_together(count: int, action: Any) -> list[Any]:
    """Run `action(i)` in `count` threads released at the same moment; return the results."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = action(index)
        except ClientError as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_shared_token_makes_one_job(cluster: Cluster) -> None:
    name = f"conc_{uuid.uuid4().hex[:8]}"
    signer_client(cluster.server.url, cluster.admin).put_signing_profile(
        profileName=name,
        platformId=IOT,
        signingMaterial={"certificateArn": cluster.certificate_arn},
    )
    token = uuid.uuid4().hex
    clients = [signer_client(cluster.server.url, cluster.admin) for _ in range(16)]

    def start(index: int) -> str:
        job_id: str = clients[index].start_signing_job(
            source={
                "s3": {"bucketName": "firmware-src", "key": "fw.bin", "version": cluster.version}
            },
            destination={"s3": {"bucketName": "firmware-out"}},
            profileName=name,
            clientRequestToken=token,
        )["jobId"]
        return job_id

    results = run_together(16, start)
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    assert len(set(results)) == 1
    count = cluster.scalar(
        "SELECT count(*) FROM signing_jobs WHERE client_request_token = %s", token
    )
    assert count == 1


def test_name_race_makes_one_profile(cluster: Cluster) -> None:
    name = f"race_{uuid.uuid4().hex[:8]}"
    clients = [signer_client(cluster.server.url, cluster.admin) for _ in range(8)]

    def put(index: int) -> dict[str, Any]:
        response: dict[str, Any] = clients[index].put_signing_profile(
            profileName=name,
            platformId=IOT,
            signingMaterial={"certificateArn": cluster.certificate_arn},
        )
        return response

    results = run_together(8, put)
    created = [r for r in results if isinstance(r, dict)]
    rejected = [r for r in results if isinstance(r, ClientError)]
    assert len(created) == 1
    assert len(rejected) == 7
    for error in rejected:
        assert error.response["Error"]["Code"] == "ValidationException"
        assert "already" in error.response["Error"]["Message"]
    assert cluster.scalar("SELECT count(*) FROM signing_profiles WHERE name = %s", name) == 1
    versions = cluster.scalar(
        "SELECT count(*) FROM signing_profile_versions WHERE profile_name = %s", name
    )
    assert versions == 1


def test_concurrent_adds_on_one_revision(cluster: Cluster) -> None:
    name = f"rev_{uuid.uuid4().hex[:8]}"
    admin = signer_client(cluster.server.url, cluster.admin)
    admin.put_signing_profile(
        profileName=name,
        platformId=IOT,
        signingMaterial={"certificateArn": cluster.certificate_arn},
    )
    revision = admin.add_profile_permission(
        profileName=name, action="signer:SignPayload", principal="p0", statementId="s0"
    )["revisionId"]
    clients = [signer_client(cluster.server.url, cluster.admin) for _ in range(8)]

    def add(index: int) -> str:
        new_revision: str = clients[index].add_profile_permission(
            profileName=name,
            action="signer:SignPayload",
            principal=f"p{index + 1}",
            statementId=f"s{index + 1}",
            revisionId=revision,
        )["revisionId"]
        return new_revision

    results = run_together(8, add)
    accepted = [r for r in results if isinstance(r, str)]
    conflicts = [r for r in results if isinstance(r, ClientError)]
    assert len(accepted) == 1
    assert len(conflicts) == 7
    for error in conflicts:
        assert error.response["Error"]["Code"] == "ConflictException"
    statements = admin.list_profile_permissions(profileName=name)
    assert statements["revisionId"] == accepted[0]
    assert len(statements["permissions"]) == 2


def test_dead_worker_job_completed(cluster: Cluster) -> None:
    """A worker that claimed a job and died (modelled by a claim whose lease has already
    run out and which is never completed) leaves the job to a real `firmseal worker`."""
    name = f"dead_{uuid.uuid4().hex[:8]}"
    signer = signer_client(cluster.server.url, cluster.admin)
    signer.put_signing_profile(
        profileName=name,
        platformId=IOT,
        signingMaterial={"certificateArn": cluster.certificate_arn},
    )
    job_id = signer.start_signing_job(
        source={"s3": {"bucketName": "firmware-src", "key": "fw.bin", "version": cluster.version}},
        destination={"s3": {"bucketName": "firmware-out", "prefix": "p/"}},
        profileName=name,
        clientRequestToken=uuid.uuid4().hex,
    )["jobId"]

    env = cluster.server.workspace.env
    settings = load_settings(env)
    workspace = ServiceWorkspace.open(settings)
    try:
        queue = SigningQueue(workspace, open_object_store(settings.objects_dir, env))
        # Jobs queued by earlier tests are older, so the dead worker claims until it has ours.
        claimed_ids = []
        while job_id not in claimed_ids:
            claimed = queue.claim("dead-worker", dt.timedelta(hours=1))
            assert claimed is not None
            claimed_ids.append(claimed.job_id)
        # The worker dies; time passes until its leases have run out.
        cluster.execute(
            "UPDATE signing_jobs SET lease_expires_at = now() - interval '1 second' "
            "WHERE lease_owner = 'dead-worker'"
        )
        worker = subprocess.Popen(
            [FIRMSEAL, "worker", "--poll-seconds", "0.05"],
            env={**env, "PATH": "/usr/bin"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            job = signer.describe_signing_job(jobId=job_id)
            deadline = time.monotonic() + 60
            while job["status"] == "InProgress" and time.monotonic() < deadline:
                time.sleep(0.05)
                job = signer.describe_signing_job(jobId=job_id)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        assert job["status"] == "Succeeded", job.get("statusReason")
        assert job["signedObject"]["s3"]["key"] == f"p/{job_id}.sig"
        late = Outcome("p/other", 1, "00", b"", dt.datetime.now(dt.UTC))
        assert queue.succeed(job_id, "dead-worker", late) is False
    finally:
        workspace.close()
    attempts = cluster.scalar("SELECT attempts FROM signing_jobs WHERE job_id = %s", job_id)
    assert attempts == 2
    owner = cluster.scalar("SELECT lease_owner FROM signing_jobs WHERE job_id = %s", job_id)
    assert owner != "dead-worker"
    key = cluster.scalar("SELECT signed_object_key FROM signing_jobs WHERE job_id = %s", job_id)
    assert key == f"p/{job_id}.sig"


def test_queued_job_fails_after_cancel(cluster: Cluster) -> None:
    name = f"late_{uuid.uuid4().hex[:8]}"
    signer = signer_client(cluster.server.url, cluster.admin)
    signer.put_signing_profile(
        profileName=name,
        platformId=IOT,
        signingMaterial={"certificateArn": cluster.certificate_arn},
    )
    job_id = signer.start_signing_job(
        source={"s3": {"bucketName": "firmware-src", "key": "fw.bin", "version": cluster.version}},
        destination={"s3": {"bucketName": "firmware-out"}},
        profileName=name,
        clientRequestToken=uuid.uuid4().hex,
    )["jobId"]
    signer.cancel_signing_profile(profileName=name)
    env = cluster.server.workspace.env
    # Each `worker --once` runs the oldest queued job; older tests may have left some.
    for _ in range(20):
        subprocess.run(
            [FIRMSEAL, "worker", "--once"],
            env={**env, "PATH": "/usr/bin"},
            check=True,
            capture_output=True,
        )
        job = signer.describe_signing_job(jobId=job_id)
        if job["status"] != "InProgress":
            break
    assert job["status"] == "Failed"
    assert "canceled after the job was queued" in job["statusReason"]
    assert "signedObject" not in job

"""Group commit of job rows: every row committed once, a bad row fails alone."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from conftest import Cli, make_signing_setup
from firmseal.config import load_settings
from firmseal.service.recorder import JobRecorder
from firmseal.service.workspace import Workspace
from firmseal.store.models import JobRecord


def job_row(job_id: str | None = None) -> JobRecord:
    return JobRecord(
        job_id=job_id or str(uuid.uuid4()),
        profile_name="wifi",
        profile_version="x" * 10,
        platform_id="p",
        status="Succeeded",
        status_reason="",
        source_name="",
        source_bucket="",
        source_key="",
        artifacts_json="[]",
        parameters_json="{}",
        requested_by="test",
        created_at=dt.datetime.now(dt.UTC),
        attempts=1,
    )


def test_recorder_commits_concurrent_rows(fs: Cli, tmp_path: Path) -> None:
    make_signing_setup(fs, tmp_path)
    workspace = Workspace.open(load_settings())
    recorder = JobRecorder(workspace.sessions)
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def record() -> None:
        barrier.wait()
        try:
            for _ in range(5):
                recorder.record(job_row())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=record) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with workspace.sessions() as session:
        count = session.scalar(select(func.count()).select_from(JobRecord))
    workspace.close()
    assert errors == []
    assert count == 80


def test_recorder_duplicate_fails_alone(fs: Cli, tmp_path: Path) -> None:
    make_signing_setup(fs, tmp_path)
    workspace = Workspace.open(load_settings())
    recorder = JobRecorder(workspace.sessions)
    taken = str(uuid.uuid4())
    recorder.record(job_row(taken))
    with pytest.raises(IntegrityError):
        recorder.record(job_row(taken))
    recorder.record(job_row())
    with workspace.sessions() as session:
        count = session.scalar(select(func.count()).select_from(JobRecord))
    workspace.close()
    assert count == 2


def test_signed_object_key_extensions() -> None:
    from firmseal.service.worker import signed_object_key

    cases = {
        "fw.bin.sig": "p/J.sig",
        "fw.bin.signed.json": "p/J.signed.json",
        "fw.signed.bin": "p/J.signed.bin",
        "other.img": "p/J.img",
    }
    for artifact, expected in cases.items():
        assert signed_object_key("p/", "J", "fw.bin", Path(artifact)) == expected, artifact

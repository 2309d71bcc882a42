"""Signing jobs: stream a source file through a platform's format and record the outcome."""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import logging
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from sqlalchemy import select

from firmseal.errors import (
    BackendError,
    ConflictError,
    FirmsealError,
    InvalidInputError,
    NotFoundError,
)
from firmseal.formats import FORMATS, intelhex
from firmseal.formats.base import ImageInput, ProgressCallback, SignContext, SignResult
from firmseal.formats.platforms import SigningPlatform, get_platform
from firmseal.kms.base import Signer
from firmseal.objects.local import ObjectVersion, PendingObject, TeeReader
from firmseal.service.abandoned import RunningJob, find_abandoned, marked_running, remove_leftovers
from firmseal.service.keys import KeyService
from firmseal.service.local_images import is_intel_hex, open_file
from firmseal.service.profiles import ACTIVE, ProfileService, ProfileView, Validity
from firmseal.service.workspace import Workspace
from firmseal.store.db import transaction
from firmseal.store.models import JobRecord

log = logging.getLogger(__name__)

IN_PROGRESS, SUCCEEDED, FAILED = "InProgress", "Succeeded", "Failed"
SOURCE_BUCKET = "firmseal-source"


def _no_progress(_: int) -> None:
    return None


def local_principal() -> str:
    return f"local:{getpass.getuser()}"


@dataclass(frozen=True)
class _Run:
    job_id: str
    platform: SigningPlatform
    signer: Signer
    context: SignContext


@dataclass(frozen=True)
class SignRequest:
    profile_name: str
    source: Path
    out_dir: Path
    overrides: dict[str, str]
    requested_by: str


def _check_size(path: Path, size: int, platform: SigningPlatform) -> None:
    if size == 0:
        raise InvalidInputError(f"source file {path} is empty; expected a firmware image")
    if size > platform.max_size_bytes:
        raise InvalidInputError(
            f"source file {path} is {size} bytes, over platform {platform.platform_id}'s "
            f"limit of {platform.max_size_in_mb} MB"
        )


class JobService:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self._profiles = ProfileService(workspace)
        self._keys = KeyService(workspace)

    def sign_file(
        self, request: SignRequest, progress: ProgressCallback = _no_progress
    ) -> JobRecord:
        """Sign one file under a profile; on failure the job is recorded as Failed and raised."""
        self.cleanup_abandoned()
        view = self._profiles.get(request.profile_name)
        if view.profile.status != ACTIVE:
            raise ConflictError(
                f"signing profile {request.profile_name!r} is {view.profile.status}; "
                "only Active profiles sign"
            )
        platform = get_platform(view.profile.platform_id)
        signer = self._keys.signer(view.key, platform.scheme)
        params = {**view.parameters, **request.overrides}
        image_format = FORMATS[platform.format_name]
        # A format may check a job's complete parameters more strictly than a profile's.
        validate = getattr(image_format, "validate_job_params", None) or getattr(
            image_format, "validate_params", None
        )
        if validate is not None:
            validate(params)
        if not request.out_dir.is_dir():
            raise InvalidInputError(
                f"output folder {request.out_dir} does not exist; create it or choose another "
                "--out-dir"
            )
        if not os.access(request.out_dir, os.W_OK):
            raise InvalidInputError(f"output folder {request.out_dir} is not writable")

        with open_file(request.source, "source") as stream:
            is_hex = is_intel_hex(request.source)
            size = os.fstat(stream.fileno()).st_size
            if not is_hex:
                _check_size(request.source, size, platform)
            job_id = str(uuid.uuid4())
            run = _Run(
                job_id,
                platform,
                signer,
                SignContext(request.out_dir, params, job_id, progress),
            )
            # The row is written inside the try, so an interrupt that lands just after its
            # commit still marks it Failed instead of leaving it InProgress.
            try:
                self._start_job(job_id, request, view, params)
                result, stored = self._run(run, request.source, stream, is_hex)
                return self._succeed(job_id, view, result, stored)
            except BaseException as exc:
                self._fail(job_id, exc)
                raise

    def _run(
        self, run: _Run, source: Path, stream: BinaryIO, is_hex: bool
    ) -> tuple[SignResult, ObjectVersion]:
        """Sign into a staging folder, store the source, then move the artifacts into place."""
        out_dir = run.context.out_dir
        staging = out_dir / f".firmseal-{run.job_id}"
        context = dataclasses.replace(run.context, out_dir=staging)
        pending = self._ws.objects.begin_put(SOURCE_BUCKET, source.name)
        marker = RunningJob(
            job_id=run.job_id,
            pid=os.getpid(),
            host=socket.gethostname(),
            staging=str(staging),
            pending=str(pending.path),
            tmp_prefix=f"hex-{run.job_id}-",
        )
        try:
            with marked_running(self._ws.settings.tmp_dir, marker):
                staging.mkdir(mode=0o700)
                with self._image(source, stream, pending, is_hex, run) as image:
                    result = FORMATS[run.platform.format_name].sign(image, run.signer, context)
                _check_targets(result.files, out_dir)
                stored = pending.commit()
                _check_stored_whole(source, stream, stored)
        except BaseException:
            pending.abort()
            shutil.rmtree(staging, ignore_errors=True)
            raise
        try:
            result.files = _publish_all(result.files, out_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return result, stored

    @contextlib.contextmanager
    def _image(
        self,
        source: Path,
        stream: BinaryIO,
        pending: PendingObject,
        is_hex: bool,
        run: _Run,
    ) -> Iterator[ImageInput]:
        """Yield the image to sign; Intel HEX is decoded to a temporary flat file first."""
        if not is_hex:
            size = os.fstat(stream.fileno()).st_size
            first_pass = cast(BinaryIO, TeeReader(stream, pending.sink))
            yield ImageInput(source.name, size, first_pass, pending.reopen)
            return
        platform = run.platform
        tmp = self._ws.new_tmp_dir(f"hex-{run.job_id}-")
        try:
            text = cast(BinaryIO, TeeReader(stream, pending.sink))
            flat = tmp / "image.bin"
            with flat.open("wb") as out:
                layout = intelhex.decode_flat(
                    text, str(source), platform.max_size_bytes, out, pending.reopen
                )
            with flat.open("rb") as first_pass:
                yield ImageInput(
                    source.name,
                    layout.size,
                    first_pass,
                    lambda: flat.open("rb"),
                    source_format="hex",
                    base_address=layout.start,
                )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _start_job(
        self, job_id: str, request: SignRequest, view: ProfileView, params: dict[str, str]
    ) -> JobRecord:
        job = JobRecord(
            job_id=job_id,
            profile_name=view.profile.name,
            profile_version=view.version.version,
            platform_id=view.profile.platform_id,
            status=IN_PROGRESS,
            status_reason="",
            source_name=request.source.name,
            source_bucket=SOURCE_BUCKET,
            source_key=request.source.name,
            artifacts_json="[]",
            parameters_json=json.dumps(params, sort_keys=True),
            requested_by=request.requested_by,
            created_at=self._ws.clock(),
        )
        with transaction(self._ws.sessions) as session:
            session.add(job)
        log.info("signing job %s started on profile %s", job.job_id, view.profile.name)
        return job

    def _fail(self, job_id: str, exc: BaseException) -> None:
        if isinstance(exc, FirmsealError | KeyboardInterrupt):
            reason = str(exc) or "interrupted"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        with transaction(self._ws.sessions) as session:
            job = session.get(JobRecord, job_id)
            if job is None or job.status != IN_PROGRESS:
                return
            job.status = FAILED
            job.status_reason = reason or type(exc).__name__
            job.completed_at = self._ws.clock()
        log.warning("signing job %s failed: %s", job_id, reason)

    def _succeed(
        self, job_id: str, view: ProfileView, result: SignResult, stored: ObjectVersion
    ) -> JobRecord:
        validity = Validity(view.version.validity_type, view.version.validity_value)
        with transaction(self._ws.sessions) as session:
            job = session.get(JobRecord, job_id)
            assert job is not None
            job.status = SUCCEEDED
            job.source_version = stored.version_id
            job.source_size = stored.size
            job.image_digest = result.digest.hex()
            job.signature = result.signature
            job.artifacts_json = json.dumps([str(path) for path in result.files])
            job.completed_at = self._ws.clock()
            job.signature_expires_at = validity.expires(job.created_at)
        log.info("signing job %s succeeded", job_id)
        return job

    def cleanup_abandoned(self) -> list[str]:
        """Fail the jobs of `firmseal sign` processes that died, and delete their leftovers."""
        tmp_dir = self._ws.settings.tmp_dir
        cleaned = []
        for marker, job in find_abandoned(tmp_dir):
            self._fail(
                job.job_id,
                BackendError(f"abandoned: process {job.pid} ended before the job finished"),
            )
            remove_leftovers(tmp_dir, job)
            marker.unlink(missing_ok=True)
            log.warning("cleaned up abandoned signing job %s", job.job_id)
            cleaned.append(job.job_id)
        return cleaned

    def get(self, job_id: str) -> JobRecord:
        with self._ws.sessions() as session:
            job = session.get(JobRecord, job_id)
        if job is None:
            raise NotFoundError(
                f"signing job {job_id!r} not found; list jobs with `firmseal job list`"
            )
        return job

    def list_all(self, limit: int = 100) -> list[JobRecord]:
        with self._ws.sessions() as session:
            query = select(JobRecord).order_by(JobRecord.created_at.desc()).limit(limit)
            return list(session.scalars(query))


def _check_stored_whole(source: Path, stream: BinaryIO, stored: ObjectVersion) -> None:
    """Raise unless the stored copy is as long as the source, so it is what was signed.

    A format must read its first pass to the end, and the file must not change while it is
    signed; either mistake would leave a stored copy that differs from the signed image.
    """
    size = os.fstat(stream.fileno()).st_size
    if stored.size != size:
        raise BackendError(
            f"stored {stored.size} of the {size} bytes of {source}; the file changed while it "
            "was signed, or the format did not read it whole. Sign it again"
        )


def _check_targets(staged: list[Path], out_dir: Path) -> None:
    """Raise before publishing when an artifact's name is taken by a folder."""
    for path in staged:
        target = out_dir / path.name
        if target.is_dir():
            raise InvalidInputError(
                f"cannot write {target}: a folder of that name exists; remove it or choose "
                "another --out-dir"
            )


def _publish_all(staged: list[Path], out_dir: Path) -> list[Path]:
    """Rename staged artifacts into `out_dir`; on failure remove the ones already moved."""
    published: list[Path] = []
    try:
        for path in staged:
            target = out_dir / path.name
            os.replace(path, target)
            published.append(target)
    except BaseException:
        for target in published:
            target.unlink(missing_ok=True)
        raise
    return published

"""Signing jobs started through the API: recorded at once, signed later by a worker.

StartSigningJob inserts an InProgress job and returns. A worker claims the job by taking a
lease (a conditional UPDATE, so two workers never hold the same live lease), signs the source
object and completes the job with another conditional UPDATE that only the lease holder can
make. A worker that dies leaves its lease to expire, and the next worker signs again into the
same object key (prefix + job id + extension), so a job never yields two signed objects.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from firmseal.errors import ConflictError, InvalidInputError, NotFoundError
from firmseal.formats.platforms import get_platform
from firmseal.objects.local import MAX_KEY_BYTES, check_bucket, check_key
from firmseal.objects.store import ObjectStore
from firmseal.service.jobs import FAILED, IN_PROGRESS, SUCCEEDED
from firmseal.service.permissions import START_SIGNING_JOB, PermissionService
from firmseal.service.principals import Principal
from firmseal.service.profiles import ACTIVE, ProfileService
from firmseal.service.workspace import Workspace
from firmseal.store.db import transaction
from firmseal.store.models import JobRecord

log = logging.getLogger(__name__)

MAX_TOKEN = 64
# Length of str(uuid.uuid4()), the job id.
JOB_ID_LENGTH = 36
# The worker writes artifacts named after the source name (the key after its last "/") into
# a local folder. The longest artifact name adds 13 bytes (".ota-job.json") and the atomic
# writer's temporary name 14 more, so a source name of at most 200 bytes keeps every file
# name within the 255-byte maximum.
MAX_SOURCE_NAME_BYTES = 200


class TokenReusedError(ConflictError):
    """A clientRequestToken came back with parameters other than its first request's."""


@dataclass(frozen=True)
class StartRequest:
    profile_name: str
    source_bucket: str
    source_key: str
    source_version: str
    destination_bucket: str
    destination_prefix: str
    client_request_token: str

    def fingerprint(self, principal: Principal) -> str:
        """Hash the request, so a retry is distinguished from another request with its token."""
        document = json.dumps({**asdict(self), "principal": principal.arn}, sort_keys=True)
        return hashlib.sha256(document.encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """The result of one job: the signed object and the signature facts."""

    signed_object_key: str
    source_size: int
    image_digest: str
    signature: bytes
    signature_expires_at: dt.datetime


def _check_request(request: StartRequest) -> None:
    if not 1 <= len(request.client_request_token) <= MAX_TOKEN:
        raise InvalidInputError(f"clientRequestToken must be 1 to {MAX_TOKEN} characters")
    check_bucket(request.source_bucket)
    check_key(request.source_key)
    _check_source_name(request.source_key)
    check_bucket(request.destination_bucket)
    if request.destination_prefix:
        check_key(request.destination_prefix)
    _check_signed_key_length(request)
    if not request.source_version:
        raise InvalidInputError("source.s3.version is required; pass the object's version id")


def _max_extension_bytes(source_name: str) -> int:
    """Return the longest extension a format may add after the job id in the signed key.

    FreeRTOS OTA adds ".signed.json" and detached signatures ".sig"; MCUboot adds ".signed"
    and the source name's suffix, ".bin" or ".hex" when it has none (see
    firmseal.formats.mcuboot.output_name and firmseal.service.worker.signed_object_key).
    """
    source_suffix = max(len(PurePosixPath(source_name).suffix.encode()), len(".bin"))
    return max(len(".signed.json"), len(".signed") + source_suffix)


def _check_source_name(source_key: str) -> None:
    name_bytes = len(source_key.rsplit("/", 1)[-1].encode())
    if name_bytes > MAX_SOURCE_NAME_BYTES:
        raise InvalidInputError(
            f"source.s3.key ends in a name of {name_bytes} bytes after its last '/', over the "
            f"limit of {MAX_SOURCE_NAME_BYTES}; the signed image is written to a local file "
            "of that name, so use a shorter final segment"
        )


def _check_signed_key_length(request: StartRequest) -> None:
    """Reject a request whose signed object key (prefix + job id + extension) is too long."""
    prefix_bytes = len(request.destination_prefix.encode())
    source_name = request.source_key.rsplit("/", 1)[-1]
    extension_bytes = _max_extension_bytes(source_name)
    total = prefix_bytes + JOB_ID_LENGTH + extension_bytes
    if total > MAX_KEY_BYTES:
        raise InvalidInputError(
            f"destination.s3.prefix is {prefix_bytes} bytes, so the signed object key "
            f"(prefix + {JOB_ID_LENGTH}-byte job id + extension of up to {extension_bytes} "
            f"bytes) could reach {total} bytes, over the limit of {MAX_KEY_BYTES}; use a "
            f"prefix of at most {MAX_KEY_BYTES - JOB_ID_LENGTH - extension_bytes} bytes"
        )


class SigningQueue:
    def __init__(self, workspace: Workspace, objects: ObjectStore) -> None:
        self._ws = workspace
        self._objects = objects
        self._profiles = ProfileService(workspace)
        self._permissions = PermissionService(workspace)

    def start(self, request: StartRequest, principal: Principal) -> tuple[JobRecord, bool]:
        """Record a job, or return the job an earlier call with the same token recorded.

        Returns the job and whether this call created it.
        """
        _check_request(request)
        fingerprint = request.fingerprint(principal)
        existing = self._by_token(principal, request.client_request_token)
        if existing is not None:
            return _same_request(existing, fingerprint), False
        job = self._new_job(request, principal, fingerprint)
        try:
            with transaction(self._ws.sessions) as session:
                session.add(job)
        except IntegrityError:
            # Another request with this token committed first: return its job.
            winner = self._by_token(principal, request.client_request_token)
            if winner is None:
                raise
            return _same_request(winner, fingerprint), False
        log.info(
            "queued signing job %s on profile %s for %s",
            job.job_id,
            request.profile_name,
            principal.name,
        )
        return job, True

    def _new_job(self, request: StartRequest, principal: Principal, fingerprint: str) -> JobRecord:
        view = self._profiles.get(request.profile_name)
        if view.profile.status != ACTIVE:
            raise ConflictError(
                f"signing profile {request.profile_name!r} is {view.profile.status}; only "
                "Active profiles sign"
            )
        self._permissions.authorize(
            principal, request.profile_name, view.version.version, START_SIGNING_JOB
        )
        platform = get_platform(view.profile.platform_id)
        try:
            source = self._objects.head(
                request.source_bucket, request.source_key, request.source_version
            )
        except NotFoundError as exc:
            raise InvalidInputError(
                f"source {exc}; upload it with `firmseal object put` and pass the version id "
                "it prints"
            ) from None
        if source.size > platform.max_size_bytes:
            raise InvalidInputError(
                f"source object s3://{source.bucket}/{source.key} is {source.size} bytes, over "
                f"platform {platform.platform_id}'s limit of {platform.max_size_in_mb} MB"
            )
        if source.size == 0:
            raise InvalidInputError(
                f"source object s3://{source.bucket}/{source.key} is empty; expected an image"
            )
        return JobRecord(
            job_id=str(uuid.uuid4()),
            profile_name=view.profile.name,
            profile_version=view.version.version,
            platform_id=platform.platform_id,
            status=IN_PROGRESS,
            status_reason="",
            source_name=request.source_key.rsplit("/", 1)[-1],
            source_bucket=request.source_bucket,
            source_key=request.source_key,
            source_version=request.source_version,
            source_size=source.size,
            artifacts_json="[]",
            parameters_json=view.version.parameters_json,
            requested_by=principal.arn,
            created_at=self._ws.clock(),
            client_request_token=request.client_request_token,
            request_hash=fingerprint,
            destination_bucket=request.destination_bucket,
            destination_prefix=request.destination_prefix,
            attempts=0,
        )

    def _by_token(self, principal: Principal, token: str) -> JobRecord | None:
        """Return the job this principal started with `token`; tokens are per principal."""
        with self._ws.sessions() as session:
            return session.scalars(
                select(JobRecord).where(
                    JobRecord.requested_by == principal.arn,
                    JobRecord.client_request_token == token,
                )
            ).first()

    def claim(self, worker_id: str, lease: dt.timedelta) -> JobRecord | None:
        """Take the lease on the oldest queued job whose lease is free or expired."""
        now = self._ws.clock()
        claimable = and_(
            JobRecord.status == IN_PROGRESS,
            JobRecord.destination_bucket.is_not(None),
            or_(JobRecord.lease_expires_at.is_(None), JobRecord.lease_expires_at < now),
        )
        with transaction(self._ws.sessions) as session:
            # On PostgreSQL, SKIP LOCKED lets concurrent workers pass over each other's
            # candidates; SQLite ignores it and serialises writers instead. The conditional
            # UPDATE below is what guarantees a single holder on both.
            candidate = session.scalars(
                select(JobRecord.job_id)
                .where(claimable)
                .order_by(JobRecord.created_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if candidate is None:
                return None
            result = session.execute(
                update(JobRecord)
                .where(JobRecord.job_id == candidate, claimable)
                .values(
                    lease_owner=worker_id,
                    lease_expires_at=now + lease,
                    attempts=JobRecord.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
        with self._ws.sessions() as session:
            job = session.get(JobRecord, candidate)
        if job is not None:
            log.info("worker %s claimed job %s (attempt %d)", worker_id, job.job_id, job.attempts)
        return job

    def renew(self, job_id: str, worker_id: str, lease: dt.timedelta) -> bool:
        """Extend the lease; return False if the worker no longer holds it."""
        with transaction(self._ws.sessions) as session:
            result = session.execute(
                update(JobRecord)
                .where(
                    JobRecord.job_id == job_id,
                    JobRecord.lease_owner == worker_id,
                    JobRecord.status == IN_PROGRESS,
                )
                .values(lease_expires_at=self._ws.clock() + lease)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def succeed(self, job_id: str, worker_id: str, outcome: Outcome) -> bool:
        """Complete the job if the worker still holds its lease; return whether it did."""
        values = {
            "status": SUCCEEDED,
            "signed_object_key": outcome.signed_object_key,
            "source_size": outcome.source_size,
            "image_digest": outcome.image_digest,
            "signature": outcome.signature,
            "signature_expires_at": outcome.signature_expires_at,
            "artifacts_json": json.dumps([outcome.signed_object_key]),
        }
        return self._finish(job_id, worker_id, values)

    def fail(self, job_id: str, worker_id: str, reason: str) -> bool:
        return self._finish(job_id, worker_id, {"status": FAILED, "status_reason": reason})

    def _finish(self, job_id: str, worker_id: str, values: dict[str, object]) -> bool:
        with transaction(self._ws.sessions) as session:
            result = session.execute(
                update(JobRecord)
                .where(
                    JobRecord.job_id == job_id,
                    JobRecord.lease_owner == worker_id,
                    JobRecord.status == IN_PROGRESS,
                )
                .values(completed_at=self._ws.clock(), lease_expires_at=None, **values)
                .execution_options(synchronize_session=False)
            )
            finished = bool(result.rowcount == 1)  # type: ignore[attr-defined]
        if finished:
            log.info("job %s is %s (worker %s)", job_id, values["status"], worker_id)
        else:
            log.warning("worker %s lost the lease on job %s; result discarded", worker_id, job_id)
        return finished


def _same_request(job: JobRecord, fingerprint: str) -> JobRecord:
    if job.request_hash != fingerprint:
        raise TokenReusedError(
            f"clientRequestToken {job.client_request_token!r} was already used for job "
            f"{job.job_id} with other parameters; use a new token for a new request"
        )
    return job

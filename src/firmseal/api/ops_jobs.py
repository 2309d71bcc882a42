"""StartSigningJob, DescribeSigningJob, ListSigningJobs, RevokeSignature and SignPayload."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from typing import Any

from firmseal.api.context import Call
from firmseal.api.errors import ApiError, validation
from firmseal.api.pagination import decode_token, encode_token, page_size
from firmseal.errors import NotFoundError
from firmseal.formats.platforms import PLATFORMS
from firmseal.service.jobs import JobService
from firmseal.service.listing import JobCursor, JobFilter, list_jobs
from firmseal.service.payloads import PayloadService
from firmseal.service.permissions import REVOKE_SIGNATURE, PermissionService
from firmseal.service.profiles import ProfileService
from firmseal.service.queue import SigningQueue, StartRequest
from firmseal.service.revocation import RevocationService
from firmseal.store.models import JobRecord

log = logging.getLogger(__name__)


def _check_owner(call: Call, owner: str | None, field: str) -> None:
    if owner is not None and owner != call.settings.account_id:
        raise ApiError(
            "ResourceNotFoundException",
            f"{field} {owner} is not this server's account {call.settings.account_id}",
        )


def start_signing_job(call: Call) -> dict[str, Any]:
    params = call.params
    _check_owner(call, params.get("profileOwner"), "profileOwner")
    source = params["source"].get("s3")
    destination = params["destination"].get("s3")
    if source is None:
        raise validation("source.s3 is required; firmseal reads sources from S3 objects")
    if destination is None or "bucketName" not in destination:
        raise validation("destination.s3.bucketName is required")
    request = StartRequest(
        profile_name=params["profileName"],
        source_bucket=source["bucketName"],
        source_key=source["key"],
        source_version=source["version"],
        destination_bucket=destination["bucketName"],
        destination_prefix=destination.get("prefix", ""),
        client_request_token=params["clientRequestToken"],
    )
    queue = SigningQueue(call.services.workspace, call.services.objects)
    job, created = queue.start(request, call.principal)
    if created:
        call.services.wake_workers()
    return {"jobId": job.job_id, "jobOwner": call.settings.account_id}


def _platform_name(platform_id: str) -> str | None:
    platform = PLATFORMS.get(platform_id)
    return platform.display_name if platform else None


def job_summary(call: Call, job: JobRecord, certificate_arn: str | None) -> dict[str, Any]:
    """Return the fields ListSigningJobs and DescribeSigningJob share."""
    document: dict[str, Any] = {
        "jobId": job.job_id,
        "status": job.status,
        "profileName": job.profile_name,
        "profileVersion": job.profile_version,
        "platformId": job.platform_id,
        "platformDisplayName": _platform_name(job.platform_id),
        "createdAt": job.created_at,
        "signatureExpiresAt": job.signature_expires_at,
        "jobOwner": call.settings.account_id,
        "jobInvoker": call.settings.account_id,
        "signingMaterial": {"certificateArn": certificate_arn} if certificate_arn else None,
    }
    if job.source_bucket:
        document["source"] = {
            "s3": {
                "bucketName": job.source_bucket,
                "key": job.source_key,
                "version": job.source_version,
            }
        }
    if job.signed_object_key and job.destination_bucket:
        document["signedObject"] = {
            "s3": {"bucketName": job.destination_bucket, "key": job.signed_object_key}
        }
    return document


def _certificate_arn(call: Call, job: JobRecord) -> str | None:
    try:
        view = ProfileService(call.services.workspace).get(job.profile_name, job.profile_version)
    except NotFoundError:
        return None
    return view.certificate_arn


def _visible_job(call: Call, job_id: str) -> JobRecord:
    """Return a job an admin or the principal that requested it may see.

    Another principal's job is reported as not found, so its existence is not revealed.
    """
    jobs = JobService(call.services.workspace)
    job = jobs.get(job_id)
    if not call.principal.admin and job.requested_by != call.principal.arn:
        log.info("principal %s may not see job %s", call.principal.name, job_id)
        raise NotFoundError(f"signing job {job_id!r} not found")
    return job


def describe_signing_job(call: Call) -> dict[str, Any]:
    # Admins see every job, other principals only the jobs they requested.
    job = _visible_job(call, call.params["jobId"])
    document = job_summary(call, job, _certificate_arn(call, job))
    document.update(
        {
            "completedAt": job.completed_at,
            "requestedBy": job.requested_by,
            "statusReason": job.status_reason or None,
            "signingParameters": json.loads(job.parameters_json) or None,
        }
    )
    if job.revoked_at is not None:
        document["revocationRecord"] = {
            "reason": job.revocation_reason,
            "revokedAt": job.revoked_at,
            "revokedBy": job.revoked_by,
        }
    return document


def _job_filter(params: dict[str, Any]) -> JobFilter:
    return JobFilter(
        status=params.get("status"),
        platform_id=params.get("platformId"),
        requested_by=params.get("requestedBy"),
        is_revoked=params.get("isRevoked"),
        expires_before=params.get("signatureExpiresBefore"),
        expires_after=params.get("signatureExpiresAfter"),
    )


def _cursor(position: dict[str, Any]) -> JobCursor | None:
    """Return the cursor a decoded nextToken carries; reject any field of the wrong type."""
    if not position:
        return None
    invalid = validation("invalid nextToken; pass the value a previous page returned")
    created_at, job_id = position.get("t"), position.get("id")
    if not isinstance(created_at, str) or not isinstance(job_id, str):
        raise invalid
    try:
        moment = dt.datetime.fromisoformat(created_at)
    except ValueError:
        raise invalid from None
    if moment.tzinfo is None:
        raise invalid
    return JobCursor(moment, job_id)


def list_signing_jobs(call: Call) -> dict[str, Any]:
    params = call.params
    invoker = params.get("jobInvoker")
    where = _job_filter(params)
    if not call.principal.admin:
        # Other principals list only their own jobs.
        if where.requested_by not in (None, call.principal.arn):
            return {"jobs": []}
        where = dataclasses.replace(where, requested_by=call.principal.arn)
    filters = {"where": where.__dict__, "invoker": invoker, "size": page_size(params)}
    cursor = _cursor(decode_token("ListSigningJobs", filters, params.get("nextToken")))
    if invoker is not None and invoker != call.settings.account_id:
        return {"jobs": []}
    jobs, next_cursor = list_jobs(call.services.workspace, where, cursor, page_size(params))
    next_token = None
    if next_cursor is not None:
        position = {"t": next_cursor.created_at.isoformat(), "id": next_cursor.job_id}
        next_token = encode_token("ListSigningJobs", filters, position)
    summaries = []
    for job in jobs:
        summary = job_summary(call, job, _certificate_arn(call, job))
        summary["isRevoked"] = job.revoked_at is not None
        summaries.append(summary)
    return {"jobs": summaries, "nextToken": next_token}


def revoke_signature(call: Call) -> None:
    params = call.params
    _check_owner(call, params.get("jobOwner"), "jobOwner")
    workspace = call.services.workspace
    job = JobService(workspace).get(params["jobId"])
    PermissionService(workspace).authorize(
        call.principal, job.profile_name, job.profile_version, REVOKE_SIGNATURE
    )
    RevocationService(workspace).revoke_signature(job.job_id, params["reason"], call.principal.arn)


def sign_payload(call: Call) -> dict[str, Any]:
    params = call.params
    _check_owner(call, params.get("profileOwner"), "profileOwner")
    service = PayloadService(call.services.workspace, call.services.recorder)
    signed = service.sign(
        params["profileName"], params["payload"], params["payloadFormat"], call.principal
    )
    return {
        "jobId": signed.job.job_id,
        "jobOwner": call.settings.account_id,
        "metadata": signed.metadata,
        "signature": signed.signature,
    }

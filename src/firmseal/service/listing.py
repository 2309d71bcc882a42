"""Filtered, paged queries over signing jobs and profiles for the List operations."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select

from firmseal.service.profiles import ACTIVE, CANCELED, ProfileService, ProfileView
from firmseal.service.workspace import Workspace
from firmseal.store.models import JobRecord, PermissionRecord, ProfileRecord


@dataclass(frozen=True)
class JobFilter:
    status: str | None = None
    platform_id: str | None = None
    requested_by: str | None = None
    is_revoked: bool | None = None
    expires_before: dt.datetime | None = None
    expires_after: dt.datetime | None = None


@dataclass(frozen=True)
class JobCursor:
    """The last job of the previous page, newest first: (created_at, job_id)."""

    created_at: dt.datetime
    job_id: str


@dataclass(frozen=True)
class ProfileFilter:
    include_canceled: bool = False
    platform_id: str | None = None
    statuses: list[str] = field(default_factory=list)
    # When set, only profiles with a permission statement whose principal is one of these.
    granted_to: list[str] | None = None


def _job_conditions(where: JobFilter) -> list[object]:
    conditions: list[object] = []
    if where.status is not None:
        conditions.append(JobRecord.status == where.status)
    if where.platform_id is not None:
        conditions.append(JobRecord.platform_id == where.platform_id)
    if where.requested_by is not None:
        conditions.append(JobRecord.requested_by == where.requested_by)
    if where.is_revoked is True:
        conditions.append(JobRecord.revoked_at.is_not(None))
    if where.is_revoked is False:
        conditions.append(JobRecord.revoked_at.is_(None))
    if where.expires_before is not None:
        conditions.append(JobRecord.signature_expires_at < where.expires_before)
    if where.expires_after is not None:
        conditions.append(JobRecord.signature_expires_at > where.expires_after)
    return conditions


def list_jobs(
    workspace: Workspace, where: JobFilter, cursor: JobCursor | None, limit: int
) -> tuple[list[JobRecord], JobCursor | None]:
    """Return up to `limit` jobs after `cursor`, newest first, and the next page's cursor."""
    query = select(JobRecord).where(*_job_conditions(where))  # type: ignore[arg-type]
    if cursor is not None:
        query = query.where(
            or_(
                JobRecord.created_at < cursor.created_at,
                and_(JobRecord.created_at == cursor.created_at, JobRecord.job_id < cursor.job_id),
            )
        )
    query = query.order_by(JobRecord.created_at.desc(), JobRecord.job_id.desc()).limit(limit + 1)
    with workspace.sessions() as session:
        jobs = list(session.scalars(query))
    if len(jobs) <= limit:
        return jobs, None
    last = jobs[limit - 1]
    return jobs[:limit], JobCursor(last.created_at, last.job_id)


def list_profiles(
    workspace: Workspace, where: ProfileFilter, offset: int, limit: int
) -> tuple[list[ProfileView], bool]:
    """Return up to `limit` profiles from `offset` in creation order, and whether more exist."""
    query = select(ProfileRecord.name)
    if where.statuses:
        query = query.where(ProfileRecord.status.in_(where.statuses))
    elif not where.include_canceled:
        query = query.where(ProfileRecord.status != CANCELED)
    if where.platform_id is not None:
        query = query.where(ProfileRecord.platform_id == where.platform_id)
    if where.granted_to is not None:
        granted = select(PermissionRecord.profile_name).where(
            PermissionRecord.principal.in_(where.granted_to)
        )
        query = query.where(ProfileRecord.name.in_(granted))
    query = query.order_by(ProfileRecord.created_at, ProfileRecord.name)
    query = query.offset(offset).limit(limit + 1)
    with workspace.sessions() as session:
        names = list(session.scalars(query))
    service = ProfileService(workspace)
    return [service.get(name) for name in names[:limit]], len(names) > limit


__all__ = ["ACTIVE", "JobCursor", "JobFilter", "ProfileFilter", "list_jobs", "list_profiles"]

"""Revocation of signing profile versions and of single signatures, and the status check.

GetRevocationStatus takes certificate hashes in AWS Signer's form: the hex SHA-384 of the
signer certificate's TBSCertificate followed by the hex SHA-384 of its issuer's
TBSCertificate (a root certificate is its own issuer).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

from cryptography import x509
from sqlalchemy import select

from firmseal.errors import ConflictError, InvalidInputError, NotFoundError
from firmseal.formats.platforms import get_platform
from firmseal.service.arns import parse_job_arn, parse_profile_arn
from firmseal.service.certificates import certificate_of, chain_of
from firmseal.service.jobs import SUCCEEDED
from firmseal.service.profiles import REVOKED, find_profile
from firmseal.service.workspace import Workspace
from firmseal.store.db import transaction
from firmseal.store.models import CertificateRecord, JobRecord, ProfileVersionRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StatusQuery:
    signature_timestamp: dt.datetime
    platform_id: str
    profile_version_arn: str
    job_arn: str
    certificate_hashes: list[str]


def _tbs_hash(certificate: x509.Certificate) -> str:
    return hashlib.sha384(certificate.tbs_certificate_bytes).hexdigest()


def certificate_hash(record: CertificateRecord) -> str:
    """Return AWS Signer's composite hash of a signer certificate and its issuer."""
    certificate = certificate_of(record)
    chain = chain_of(record)
    issuer = chain[0] if chain else certificate
    return _tbs_hash(certificate) + _tbs_hash(issuer)


class RevocationService:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def revoke_profile(
        self, name: str, version: str, reason: str, effective_time: dt.datetime, revoked_by: str
    ) -> None:
        """Revoke one profile version from `effective_time`, which may only move earlier."""
        now = self._ws.clock()
        if effective_time > now:
            raise InvalidInputError(
                f"effectiveTime {effective_time.isoformat()} is in the future; revocation can "
                "take effect now or at an earlier time"
            )
        with transaction(self._ws.sessions) as session:
            profile = find_profile(session, name)
            record = session.get(ProfileVersionRecord, (name, version))
            if record is None:
                raise NotFoundError(f"version {version!r} of signing profile {name!r} not found")
            current = record.revocation_effective_from
            if current is not None and effective_time >= current:
                raise InvalidInputError(
                    f"version {version} of profile {name!r} is already revoked from "
                    f"{current.isoformat()}; a new effectiveTime must be earlier"
                )
            record.revocation_effective_from = effective_time
            record.revoked_at = now
            record.revoked_by = revoked_by
            record.revocation_reason = reason
            if profile.current_version == version:
                profile.status = REVOKED
        log.info("revoked profile %s version %s from %s", name, version, effective_time)

    def revoke_signature(self, job_id: str, reason: str, revoked_by: str) -> JobRecord:
        with transaction(self._ws.sessions) as session:
            job = session.get(JobRecord, job_id)
            if job is None:
                raise NotFoundError(f"signing job {job_id!r} not found")
            if job.status != SUCCEEDED:
                raise InvalidInputError(
                    f"signing job {job_id} is {job.status}; only a Succeeded job has a "
                    "signature to revoke"
                )
            if job.revoked_at is not None:
                raise ConflictError(f"the signature of job {job_id} is already revoked")
            job.revoked_at = self._ws.clock()
            job.revoked_by = revoked_by
            job.revocation_reason = reason
        log.info("revoked the signature of job %s", job_id)
        return job

    def revoked_entities(self, query: StatusQuery) -> list[str]:
        """Return the entities of the query that are revoked for a signature made then."""
        get_platform(query.platform_id)
        settings = self._ws.settings
        profile = parse_profile_arn(settings, query.profile_version_arn)
        if profile.version is None:
            raise InvalidInputError(
                f"profileVersionArn {query.profile_version_arn!r} has no version; append "
                "/VERSION to the profile ARN"
            )
        job_id = parse_job_arn(settings, query.job_arn)
        at = query.signature_timestamp
        revoked: list[str] = []
        with self._ws.sessions() as session:
            version = session.get(ProfileVersionRecord, (profile.name, profile.version))
            if _revoked_at(version, at):
                revoked.append(query.profile_version_arn)
            job = session.get(JobRecord, job_id)
            if job is not None and job.revoked_at is not None:
                revoked.append(query.job_arn)
            revoked_hashes = self._revoked_certificate_hashes(at)
        revoked += [h for h in query.certificate_hashes if h.lower() in revoked_hashes]
        return revoked

    def _revoked_certificate_hashes(self, at: dt.datetime) -> set[str]:
        """Hash the certificates of every profile version revoked for signatures made at `at`."""
        with self._ws.sessions() as session:
            versions = session.scalars(
                select(ProfileVersionRecord).where(
                    ProfileVersionRecord.revocation_effective_from.is_not(None),
                    ProfileVersionRecord.certificate_id.is_not(None),
                )
            )
            hashes = set()
            for version in versions:
                if not _revoked_at(version, at):
                    continue
                record = session.get(CertificateRecord, version.certificate_id)
                if record is not None:
                    hashes.add(certificate_hash(record))
        return hashes


def _revoked_at(version: ProfileVersionRecord | None, at: dt.datetime) -> bool:
    if version is None or version.revocation_effective_from is None:
        return False
    return at >= version.revocation_effective_from

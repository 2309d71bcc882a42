"""Turn stored records into the dictionaries the CLI prints (AWS field names where AWS has one)."""

from __future__ import annotations

import json
from typing import Any

from firmseal.service.keys import fingerprint
from firmseal.service.profiles import ProfileView
from firmseal.store.models import CertificateRecord, JobRecord, KeyRecord


def key_dict(record: KeyRecord) -> dict[str, Any]:
    return {
        "keyId": record.key_id,
        "alias": record.alias,
        "keySpec": record.spec,
        "keyState": record.state,
        "backend": record.backend,
        "uri": record.uri,
        "fingerprint": fingerprint(record),
        "createdAt": record.created_at,
    }


def certificate_dict(record: CertificateRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "certificateArn": record.arn,
        "kind": record.kind,
        "subject": record.subject,
        "serialNumber": record.serial_number,
        "notBefore": record.not_before,
        "notAfter": record.not_after,
        "createdAt": record.created_at,
    }


def profile_dict(view: ProfileView, key_alias: str | None = None) -> dict[str, Any]:
    version = view.version
    return {
        "profileName": view.profile.name,
        "profileVersion": version.version,
        "platformId": view.profile.platform_id,
        "status": view.profile.status,
        "signingMaterial": {
            "keyAlias": key_alias or view.key.alias,
            "keyUri": view.key.uri,
            "certificateArn": view.certificate_arn,
            "certificateName": view.certificate_name,
        },
        "signatureValidityPeriod": {
            "value": version.validity_value,
            "type": version.validity_type,
        },
        "signingParameters": view.parameters,
        "createdAt": view.profile.created_at,
        "canceledAt": view.profile.canceled_at,
    }


def job_dict(job: JobRecord) -> dict[str, Any]:
    return {
        "jobId": job.job_id,
        "status": job.status,
        "statusReason": job.status_reason or None,
        "profileName": job.profile_name,
        "profileVersion": job.profile_version,
        "platformId": job.platform_id,
        "source": {
            "name": job.source_name,
            "bucketName": job.source_bucket,
            "key": job.source_key,
            "version": job.source_version,
        },
        "sourceSize": job.source_size,
        "imageDigest": job.image_digest,
        "signedObjects": json.loads(job.artifacts_json),
        "signingParameters": json.loads(job.parameters_json),
        "requestedBy": job.requested_by,
        "createdAt": job.created_at,
        "completedAt": job.completed_at,
        "signatureExpiresAt": job.signature_expires_at,
    }

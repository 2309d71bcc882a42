"""Platforms, permission statements, tags and GetRevocationStatus."""

from __future__ import annotations

from typing import Any

from firmseal.api.context import Call
from firmseal.api.errors import validation
from firmseal.api.pagination import decode_token, encode_token, offset_of, page_size
from firmseal.formats.platforms import PLATFORMS, get_platform
from firmseal.service.permissions import PermissionService, Statement
from firmseal.service.revocation import RevocationService, StatusQuery
from firmseal.service.tags import TagService


def get_signing_platform(call: Call) -> dict[str, Any]:
    return get_platform(call.params["platformId"]).to_aws()


def list_signing_platforms(call: Call) -> dict[str, Any]:
    params = call.params
    filters = {key: params.get(key) for key in ("category", "partner", "target")}
    filters["size"] = page_size(params)
    offset = offset_of(decode_token("ListSigningPlatforms", filters, params.get("nextToken")))
    matching = [
        platform.to_aws()
        for platform in PLATFORMS.values()
        if all(
            params.get(key) in (None, getattr(platform, key))
            for key in ("category", "partner", "target")
        )
    ]
    size = page_size(params)
    page = matching[offset : offset + size]
    next_token = None
    if offset + size < len(matching):
        next_token = encode_token("ListSigningPlatforms", filters, {"offset": offset + size})
    return {"platforms": page, "nextToken": next_token}


def add_profile_permission(call: Call) -> dict[str, Any]:
    call.require_admin("AddProfilePermission")
    params = call.params
    statement = Statement(
        statement_id=params["statementId"],
        action=params["action"],
        principal=params["principal"],
        profile_version=params.get("profileVersion"),
    )
    revision = PermissionService(call.services.workspace).add(
        params["profileName"], statement, params.get("revisionId")
    )
    return {"revisionId": revision}


def remove_profile_permission(call: Call) -> dict[str, Any]:
    call.require_admin("RemoveProfilePermission")
    params = call.params
    revision = PermissionService(call.services.workspace).remove(
        params["profileName"], params["statementId"], params["revisionId"]
    )
    return {"revisionId": revision}


def list_profile_permissions(call: Call) -> dict[str, Any]:
    call.require_admin("ListProfilePermissions")
    params = call.params
    filters = {"profile": params["profileName"]}
    offset = offset_of(decode_token("ListProfilePermissions", filters, params.get("nextToken")))
    policy = PermissionService(call.services.workspace).policy(params["profileName"])
    permissions = [
        {
            "action": s.action,
            "principal": s.principal,
            "statementId": s.statement_id,
            "profileVersion": s.profile_version,
        }
        for s in policy.statements
    ]
    size = 25
    next_token = None
    if offset + size < len(permissions):
        next_token = encode_token("ListProfilePermissions", filters, {"offset": offset + size})
    return {
        "revisionId": policy.revision_id,
        "policySizeBytes": sum(len(str(p)) for p in permissions),
        "permissions": permissions[offset : offset + size],
        "nextToken": next_token,
    }


def tag_resource(call: Call) -> dict[str, Any]:
    call.require_admin("TagResource")
    TagService(call.services.workspace).tag(call.params["resourceArn"], call.params["tags"])
    return {}


def untag_resource(call: Call) -> dict[str, Any]:
    call.require_admin("UntagResource")
    TagService(call.services.workspace).untag(call.params["resourceArn"], call.params["tagKeys"])
    return {}


def list_tags_for_resource(call: Call) -> dict[str, Any]:
    tags = TagService(call.services.workspace).tags(call.params["resourceArn"])
    return {"tags": tags or None}


def get_revocation_status(call: Call) -> dict[str, Any]:
    params = call.params
    if not params["certificateHashes"]:
        raise validation("certificateHashes must list at least one hash")
    query = StatusQuery(
        signature_timestamp=params["signatureTimestamp"],
        platform_id=params["platformId"],
        profile_version_arn=params["profileVersionArn"],
        job_arn=params["jobArn"],
        certificate_hashes=params["certificateHashes"],
    )
    revoked = RevocationService(call.services.workspace).revoked_entities(query)
    return {"revokedEntities": revoked}

"""PutSigningProfile, GetSigningProfile, CancelSigningProfile, ListSigningProfiles and
RevokeSigningProfile."""

from __future__ import annotations

from typing import Any

from firmseal.api.context import Call
from firmseal.api.errors import validation
from firmseal.api.pagination import decode_token, encode_token, offset_of, page_size
from firmseal.errors import NotFoundError
from firmseal.formats.platforms import SigningPlatform, get_platform
from firmseal.service.arns import profile_arn, profile_version_arn
from firmseal.service.certificates import find_certificate
from firmseal.service.listing import ProfileFilter, list_profiles
from firmseal.service.permissions import (
    GET_SIGNING_PROFILE,
    PermissionService,
    principal_names,
)
from firmseal.service.profiles import ProfileService, ProfileView, parse_validity
from firmseal.service.revocation import RevocationService
from firmseal.service.tags import TagService


def _platform(platform_id: str) -> SigningPlatform:
    try:
        return get_platform(platform_id)
    except NotFoundError as exc:
        raise validation(str(exc)) from None


def _check_overrides(platform: SigningPlatform, overrides: dict[str, Any]) -> None:
    """Accept only overrides equal to the platform's values; firmseal platforms offer one each."""
    configuration = overrides.get("signingConfiguration", {})
    allowed = {
        "encryptionAlgorithm": platform.encryption_algorithm,
        "hashAlgorithm": platform.hash_algorithm,
    }
    for key, value in configuration.items():
        if value != allowed[key]:
            raise validation(
                f"overrides.signingConfiguration.{key} {value!r} is not offered by platform "
                f"{platform.platform_id}; it supports {allowed[key]}"
            )
    image_format = overrides.get("signingImageFormat")
    if image_format is not None and image_format != platform.image_format:
        raise validation(
            f"overrides.signingImageFormat {image_format!r} is not offered by platform "
            f"{platform.platform_id}; it supports {platform.image_format}"
        )


def put_signing_profile(call: Call) -> dict[str, Any]:
    call.require_admin("PutSigningProfile")
    params = call.params
    name = params["profileName"]
    platform = _platform(params["platformId"])
    _check_overrides(platform, params.get("overrides", {}))
    material = params.get("signingMaterial")
    if material is None:
        raise validation(
            f"platform {platform.platform_id} signs with a key, so signingMaterial."
            "certificateArn is required; pass the ARN of a firmseal certificate"
        )
    workspace = call.services.workspace
    with workspace.sessions() as session:
        certificate = find_certificate(session, material["certificateArn"])
    if certificate.key_id is None:
        raise validation(f"certificate {certificate.arn} has no key in this workspace")
    period = params.get("signatureValidityPeriod", {})
    validity = None
    if period:
        if "value" not in period or "type" not in period:
            raise validation("signatureValidityPeriod needs both value and type")
        validity = parse_validity(f"{period['value']}{period['type'][0]}")
    view = ProfileService(workspace).put(
        name,
        platform.platform_id,
        certificate.key_id,
        certificate_name=certificate.certificate_id,
        validity=validity,
        params=params.get("signingParameters", {}),
    )
    if params.get("tags"):
        TagService(workspace).tag(profile_arn(call.settings, name), params["tags"])
    version = view.version.version
    return {
        "arn": profile_arn(call.settings, name),
        "profileVersion": version,
        "profileVersionArn": profile_version_arn(call.settings, name, version),
    }


def profile_document(call: Call, view: ProfileView) -> dict[str, Any]:
    """Return a profile with the fields GetSigningProfile and ListSigningProfiles share."""
    name, version = view.profile.name, view.version.version
    platform = get_platform(view.profile.platform_id)
    tags = TagService(call.services.workspace).tags(profile_arn(call.settings, name))
    return {
        "profileName": name,
        "profileVersion": version,
        "profileVersionArn": profile_version_arn(call.settings, name, version),
        "signingMaterial": (
            {"certificateArn": view.certificate_arn} if view.certificate_arn else None
        ),
        "signatureValidityPeriod": {
            "value": view.version.validity_value,
            "type": view.version.validity_type,
        },
        "platformId": platform.platform_id,
        "platformDisplayName": platform.display_name,
        "signingParameters": view.parameters,
        "status": view.profile.status,
        "arn": profile_arn(call.settings, name),
        "tags": tags or None,
    }


def get_signing_profile(call: Call) -> dict[str, Any]:
    name = call.params["profileName"]
    workspace = call.services.workspace
    view = ProfileService(workspace).get(name)
    PermissionService(workspace).authorize(
        call.principal, name, view.version.version, GET_SIGNING_PROFILE
    )
    document = profile_document(call, view)
    document["overrides"] = None
    version = view.version
    if version.revocation_effective_from is not None:
        document["revocationRecord"] = {
            "revocationEffectiveFrom": version.revocation_effective_from,
            "revokedAt": version.revoked_at,
            "revokedBy": version.revoked_by,
        }
        document["statusReason"] = version.revocation_reason
    return document


def cancel_signing_profile(call: Call) -> None:
    call.require_admin("CancelSigningProfile")
    ProfileService(call.services.workspace).cancel(call.params["profileName"])


def list_signing_profiles(call: Call) -> dict[str, Any]:
    params = call.params
    # A non-admin gets only the profiles that some permission statement grants it.
    granted_to = None
    if not call.principal.admin:
        granted_to = principal_names(call.principal, call.settings.account_id)
    where = ProfileFilter(
        include_canceled=params.get("includeCanceled", False),
        platform_id=params.get("platformId"),
        statuses=params.get("statuses", []),
        granted_to=granted_to,
    )
    filters = {"where": where.__dict__, "size": page_size(params)}
    offset = offset_of(decode_token("ListSigningProfiles", filters, params.get("nextToken")))
    views, more = list_profiles(call.services.workspace, where, offset, page_size(params))
    next_token = None
    if more:
        position = {"offset": offset + len(views)}
        next_token = encode_token("ListSigningProfiles", filters, position)
    return {
        "profiles": [profile_document(call, view) for view in views],
        "nextToken": next_token,
    }


def revoke_signing_profile(call: Call) -> None:
    call.require_admin("RevokeSigningProfile")
    params = call.params
    RevocationService(call.services.workspace).revoke_profile(
        params["profileName"],
        params["profileVersion"],
        params["reason"],
        params["effectiveTime"],
        call.principal.arn,
    )

"""The 19 AWS Signer operations, by name, and the request pipeline that runs one."""

from __future__ import annotations

import json
import logging
import urllib.parse
from dataclasses import dataclass

from firmseal.api import ops_jobs, ops_misc, ops_profiles
from firmseal.api.context import Call, Handler, Services
from firmseal.api.errors import ApiError, from_domain, validation
from firmseal.api.limits import CredentialCache, RateLimiter
from firmseal.api.model import ServiceModel
from firmseal.api.shapes import MAX_QUERY_FIELDS, InputParser, OutputSerializer
from firmseal.api.sigv4 import SignedRequest, authenticate
from firmseal.errors import FirmsealError
from firmseal.service.principals import PrincipalService

log = logging.getLogger(__name__)

HANDLERS: dict[str, Handler] = {
    "AddProfilePermission": ops_misc.add_profile_permission,
    "CancelSigningProfile": ops_profiles.cancel_signing_profile,
    "DescribeSigningJob": ops_jobs.describe_signing_job,
    "GetRevocationStatus": ops_misc.get_revocation_status,
    "GetSigningPlatform": ops_misc.get_signing_platform,
    "GetSigningProfile": ops_profiles.get_signing_profile,
    "ListProfilePermissions": ops_misc.list_profile_permissions,
    "ListSigningJobs": ops_jobs.list_signing_jobs,
    "ListSigningPlatforms": ops_misc.list_signing_platforms,
    "ListSigningProfiles": ops_profiles.list_signing_profiles,
    "ListTagsForResource": ops_misc.list_tags_for_resource,
    "PutSigningProfile": ops_profiles.put_signing_profile,
    "RemoveProfilePermission": ops_misc.remove_profile_permission,
    "RevokeSignature": ops_jobs.revoke_signature,
    "RevokeSigningProfile": ops_profiles.revoke_signing_profile,
    "SignPayload": ops_jobs.sign_payload,
    "StartSigningJob": ops_jobs.start_signing_job,
    "TagResource": ops_misc.tag_resource,
    "UntagResource": ops_misc.untag_resource,
}


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    operation: str | None = None
    principal: str | None = None
    error_code: str | None = None


class Dispatcher:
    """Authenticates, routes, parses, runs and serialises one AWS API request."""

    def __init__(self, model: ServiceModel, services: Services, limiter: RateLimiter) -> None:
        self._model = model
        self._services = services
        self._parser = InputParser(model.shapes)
        self._serializer = OutputSerializer(model.shapes)
        principals = PrincipalService(services.workspace)
        self._credentials = CredentialCache(principals.sealed, principals.open)
        self._limiter = limiter

    def handle(self, request: SignedRequest) -> Reply:
        """Run the request and return its reply; every Exception becomes an AWS error reply."""
        operation_name: str | None = None
        principal_name: str | None = None
        try:
            now = self._services.workspace.clock()
            principal = authenticate(
                request, self._credentials, self._services.settings.region, now
            )
            principal_name = principal.name
            routed = self._model.route(request.method, request.raw_path)
            if routed is None:
                raise ApiError(
                    "UnknownOperationException",
                    f"no AWS Signer operation at {request.method} {request.raw_path[:200]}",
                )
            operation, uri = routed
            operation_name = operation.name
            if not self._limiter.allow(principal.access_key_id):
                raise ApiError("TooManyRequestsException", "Rate exceeded; retry with backoff")
            params = self._parser.parse(operation, uri, _query(request.raw_query), request.body)
            try:
                result = HANDLERS[operation.name](Call(self._services, principal, params))
            except FirmsealError as exc:
                raise from_domain(exc, operation.errors) from exc
            body = self._serializer.serialize(operation.output_shape, result)
            return Reply(200, body, operation_name, principal_name)
        except ApiError as exc:
            if exc.status >= 500:
                log.error("%s failed: %s", operation_name, exc.__cause__ or exc)
            return _error_reply(exc, operation_name, principal_name)
        except Exception:
            log.exception("%s failed with an unexpected error", operation_name)
            error = ApiError(
                "InternalServiceErrorException", "the service failed to process the request"
            )
            return _error_reply(error, operation_name, principal_name)


def _query(raw_query: str) -> list[tuple[str, str]]:
    try:
        return urllib.parse.parse_qsl(
            raw_query,
            keep_blank_values=True,
            max_num_fields=MAX_QUERY_FIELDS,
            errors="strict",
        )
    except (ValueError, UnicodeDecodeError):
        raise validation(
            f"invalid query string; at most {MAX_QUERY_FIELDS} UTF-8 parameters allowed"
        ) from None


def _error_reply(error: ApiError, operation: str | None, principal: str | None) -> Reply:
    body = json.dumps({"message": error.message, "code": error.code}).encode()
    return Reply(error.status, body, operation, principal, error.code)


def error_reply(error: ApiError) -> Reply:
    return _error_reply(error, None, None)

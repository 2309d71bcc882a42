"""SigV4 verification of incoming requests, with botocore's canonical request code.

The server rebuilds the request as the client sent it: raw path, raw query, the headers the
client listed in SignedHeaders, and the body. botocore's SigV4Auth then computes the
canonical request, string to sign and signature with the caller's secret, and
hmac.compare_digest compares the result. The errors are those AWS returns for REST-JSON
services.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials as BotoCredentials

from firmseal.api.errors import ApiError
from firmseal.service.principals import Credentials, Principal

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_AUTHORIZATION_LENGTH = 4096
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
_ACCESS_KEY = re.compile(r"^[A-Z0-9]{16,128}$")
_HEADER_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

CredentialLookup = Callable[[str], Credentials | None]


@dataclass(frozen=True)
class AuthorizationHeader:
    """The parts of `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., ...`."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


@dataclass(frozen=True)
class SignedRequest:
    """The request as the server received it, unchanged: the canonical request's inputs."""

    method: str
    host: str
    raw_path: str
    raw_query: str
    headers: Sequence[tuple[str, str]]
    body: bytes


def _incomplete(message: str) -> ApiError:
    return ApiError("IncompleteSignatureException", message)


def _invalid(message: str) -> ApiError:
    return ApiError("InvalidSignatureException", message)


def parse_authorization(value: str) -> AuthorizationHeader:
    """Parse an Authorization header; raise ApiError naming the missing or invalid part."""
    if len(value) > MAX_AUTHORIZATION_LENGTH:
        raise _incomplete("Authorization header is too long")
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported authorization type; expected {ALGORITHM}")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, part = item.strip().partition("=")
        if not sep or key in parts:
            raise _incomplete(
                f"Authorization header requires 'Credential', 'SignedHeaders' and "
                f"'Signature' once each; got {item.strip()[:40]!r}"
            )
        parts[key] = part
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in parts]
    if missing:
        raise _incomplete(f"Authorization header requires '{missing[0]}' parameter")
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise _incomplete("Credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request")
    signed_headers = tuple(parts["SignedHeaders"].split(";"))
    if not all(_HEADER_NAME.match(name) for name in signed_headers):
        raise _incomplete("SignedHeaders must be lowercase header names separated by ';'")
    if not _SIGNATURE.match(parts["Signature"]):
        raise _incomplete("Signature must be 64 lowercase hexadecimal characters")
    return AuthorizationHeader(
        access_key_id=scope[0],
        date=scope[1],
        region=scope[2],
        service=scope[3],
        signed_headers=signed_headers,
        signature=parts["Signature"],
    )


class _ServerSigV4(SigV4Auth):
    """SigV4Auth that signs exactly the headers the client listed in SignedHeaders."""

    def __init__(self, secret: BotoCredentials, region: str, signed: Sequence[str]) -> None:
        super().__init__(secret, "signer", region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        selected = HTTPHeaders()
        for name in self._signed:
            for value in request.headers.get_all(name) or []:
                selected[name] = value
        return selected


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in headers if key == name]
    return values[0] if len(values) == 1 else None


def _check_time(amz_date: str, now: dt.datetime) -> None:
    if not _AMZ_DATE.match(amz_date):
        raise _incomplete("X-Amz-Date must be in the form YYYYMMDDTHHMMSSZ")
    try:
        signed_at = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise _incomplete("X-Amz-Date is not a valid date") from None
    stamp = "%Y%m%dT%H%M%SZ"
    if signed_at < now - MAX_CLOCK_SKEW:
        raise _invalid(
            f"Signature expired: {amz_date} is now earlier than "
            f"{(now - MAX_CLOCK_SKEW).strftime(stamp)} ({now.strftime(stamp)} - 5 min.)"
        )
    if signed_at > now + MAX_CLOCK_SKEW:
        raise _invalid(
            f"Signature not yet current: {amz_date} is still later than "
            f"{(now + MAX_CLOCK_SKEW).strftime(stamp)} ({now.strftime(stamp)} + 5 min.)"
        )


def _check_scope(auth: AuthorizationHeader, amz_date: str, region: str) -> None:
    if auth.date != amz_date[:8]:
        raise _invalid(
            f"Date in Credential scope does not match YYYYMMDD from X-Amz-Date: "
            f"{auth.date!r} != {amz_date[:8]!r}"
        )
    if auth.region != region:
        raise _invalid(
            f"Credential should be scoped to a valid region, not {auth.region!r}; "
            f"this server is {region!r}"
        )
    if auth.service != "signer":
        raise _invalid(
            f"Credential should be scoped to correct service: 'signer', not {auth.service!r}"
        )
    for required in ("host", "x-amz-date"):
        if required not in auth.signed_headers:
            raise _invalid(f"SignedHeaders must include '{required}'")


def _check_body_hash(request: SignedRequest) -> None:
    declared = _header(request.headers, "x-amz-content-sha256")
    if declared is None:
        return
    if declared == _UNSIGNED_PAYLOAD or not hmac.compare_digest(
        declared, hashlib.sha256(request.body).hexdigest()
    ):
        raise _invalid("The provided x-amz-content-sha256 header does not match the body")


def expected_signature(
    request: SignedRequest, auth: AuthorizationHeader, amz_date: str, secret: str
) -> str:
    boto_request: Any = AWSRequest(
        method=request.method,
        url=f"http://{request.host}{request.raw_path}"
        + (f"?{request.raw_query}" if request.raw_query else ""),
        data=request.body,
    )
    headers = HTTPHeaders()
    for key, value in request.headers:
        headers[key] = value
    boto_request.headers = headers
    boto_request.context["timestamp"] = amz_date
    signer = _ServerSigV4(
        BotoCredentials(auth.access_key_id, secret), auth.region, auth.signed_headers
    )
    canonical = signer.canonical_request(boto_request)
    string_to_sign = signer.string_to_sign(boto_request, canonical)
    return str(signer.signature(string_to_sign, boto_request))


def authenticate(
    request: SignedRequest, lookup: CredentialLookup, region: str, now: dt.datetime
) -> Principal:
    """Verify the request's SigV4 signature; return the caller or raise a 403 ApiError."""
    # NOTE: only the Authorization header form is accepted; presigned URLs (X-Amz-Signature
    # in the query string) get MissingAuthenticationTokenException.
    value = _header(request.headers, "authorization")
    if value is None:
        raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token")
    auth = parse_authorization(value)
    amz_date = _header(request.headers, "x-amz-date")
    if amz_date is None:
        raise _incomplete("Authorization header requires existence of a valid 'X-Amz-Date' header")
    _check_time(amz_date, now)
    _check_scope(auth, amz_date, region)
    if not _ACCESS_KEY.match(auth.access_key_id):
        raise ApiError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    credentials = lookup(auth.access_key_id)
    if credentials is None:
        raise ApiError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    _check_body_hash(request)
    expected = expected_signature(request, auth, amz_date, credentials.secret_access_key)
    if not hmac.compare_digest(expected, auth.signature):
        raise _invalid(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )
    return credentials.principal

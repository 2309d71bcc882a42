"""Malformed, forged and hostile requests get AWS errors, never a 500, and the server lives."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from api_server import (
    RawResponse,
    Server,
    Workspace,
    _lower,
    raw_request,
    signer_client,
    start_server,
)
from conftest import ApiEnv

IOT = "AWSIoTDeviceManagement-SHA256-ECDSA"


def assert_alive(api: ApiEnv) -> None:
    with urllib.request.urlopen(f"{api.url}/healthz", timeout=10) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "fragment"),
    [
        ("POST", "/signing-jobs/with-payload", b"{not json", "ValidationException", "JSON"),
        ("POST", "/signing-jobs/with-payload", b"[1, 2]", "ValidationException", "object"),
        (
            "POST",
            "/signing-jobs/with-payload",
            b'{"profileName": 5, "payload": "eA==", "payloadFormat": "application/octet-stream"}',
            "ValidationException",
            "string",
        ),
        (
            "POST",
            "/signing-jobs/with-payload",
            b'{"payload": "eA=="}',
            "ValidationException",
            "must not be null",
        ),
        (
            "POST",
            "/signing-jobs/with-payload",
            b'{"profileName": "ab", "payload": "!!", "payloadFormat": "x"}',
            "ValidationException",
            "base64",
        ),
        (
            "POST",
            "/signing-jobs/with-payload",
            b'{"extra": 1}',
            "ValidationException",
            "unknown field",
        ),
        (
            "POST",
            "/signing-jobs/with-payload",
            b"[" * 100000 + b"]" * 100000,
            "ValidationException",
            "",
        ),
        ("GET", "/signing-jobs?colour=blue", b"", "ValidationException", "unknown query"),
        ("GET", "/signing-jobs?maxResults=abc", b"", "ValidationException", "integer"),
        ("GET", "/signing-jobs?maxResults=0", b"", "ValidationException", "greater than"),
        ("GET", "/signing-jobs?isRevoked=maybe", b"", "ValidationException", "true or false"),
        ("GET", "/signing-jobs?status=Lost", b"", "ValidationException", "enum"),
        (
            "GET",
            "/signing-jobs?signatureExpiresBefore=yesterday",
            b"",
            "ValidationException",
            "timestamp",
        ),
        ("GET", "/signing-jobs?maxResults=1&maxResults=2", b"", "ValidationException", "repeated"),
        ("GET", "/signing-profiles/%2E%2E%2Fetc", b"", "ValidationException", "pattern"),
        ("GET", "/signing-profiles/%FF%FE", b"", "UnknownOperationException", ""),
        ("GET", "/signing-jobs/..%2F..%2Fetc%2Fpasswd", b"", "ResourceNotFoundException", ""),
        ("GET", "/no/such/operation", b"", "UnknownOperationException", "no AWS Signer"),
        ("PATCH", "/signing-jobs", b"", "UnknownOperationException", ""),
        (
            "DELETE",
            "/signing-profiles/ab?profileOwner=1",
            b"",
            "ValidationException",
            "unknown query",
        ),
        (
            "PUT",
            "/signing-profiles/abc",
            b'{"platformId": "' + b"A" * 300000 + b'"}',
            "ValidationException",
            "limit",
        ),
    ],
)
def test_bad_request_gets_aws_error(
    api: ApiEnv, method: str, path: str, body: bytes, code: str, fragment: str
) -> None:
    response = raw_request(api.url, method, path, body, api.admin)
    assert response.status < 500, response.body[:300]
    assert response.error_type == code
    document = response.json()
    assert fragment in document["message"]
    assert "Traceback" not in document["message"]
    assert_alive(api)


def test_bad_object_names_rejected(api: ApiEnv) -> None:
    signer = api.client()
    name = f"odd_{uuid.uuid4().hex[:8]}"
    signer.put_signing_profile(
        profileName=name, platformId=IOT, signingMaterial={"certificateArn": api.certificate_arn}
    )
    cases = [
        ({"bucketName": "..", "key": "k", "version": "v"}, "invalid bucket"),
        ({"bucketName": "Upper", "key": "k", "version": "v"}, "invalid bucket"),
        ({"bucketName": "firmware-src", "key": "k" * 1025, "version": "v"}, "invalid object key"),
        (
            {
                "bucketName": "firmware-src",
                "key": "../../etc/passwd",
                "version": "00000000000000000001-0000000000000000",
            },
            "not found",
        ),
        (
            {"bucketName": "firmware-src", "key": "releases/fw.bin", "version": "../../x"},
            "not found",
        ),
    ]
    for source, fragment in cases:
        with pytest.raises(ClientError) as info:
            signer.start_signing_job(
                source={"s3": source},
                destination={"s3": {"bucketName": "out-bucket"}},
                profileName=name,
                clientRequestToken=uuid.uuid4().hex,
            )
        assert info.value.response["Error"]["Code"] == "ValidationException", source
        assert fragment in str(info.value), source
    with pytest.raises(ClientError) as info:
        signer.start_signing_job(
            source={
                "s3": {
                    "bucketName": "firmware-src",
                    "key": "releases/fw.bin",
                    "version": api.source_version,
                }
            },
            destination={"s3": {"bucketName": "a/../b"}},
            profileName=name,
            clientRequestToken=uuid.uuid4().hex,
        )
    assert "invalid bucket" in str(info.value)
    assert_alive(api)


def test_missing_signature(api: ApiEnv) -> None:
    response = raw_request(api.url, "GET", "/signing-platforms")
    assert response.status == 403
    assert response.error_type == "MissingAuthenticationTokenException"
    assert response.json()["message"] == "Missing Authentication Token"


def test_forged_signature(api: ApiEnv) -> None:
    forged = {**api.admin, "SecretAccessKey": "not-the-secret"}
    response = raw_request(api.url, "GET", "/signing-platforms", b"", forged)
    assert response.status == 403
    assert response.error_type == "InvalidSignatureException"
    assert "does not match" in response.json()["message"]


def test_unknown_access_key(api: ApiEnv) -> None:
    stranger = {"AccessKeyId": "FSAKAAAAAAAAAAAAAAAA", "SecretAccessKey": "x"}
    response = raw_request(api.url, "GET", "/signing-platforms", b"", stranger)
    assert response.status == 403
    assert response.error_type == "UnrecognizedClientException"


def test_expired_signature(api: ApiEnv) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
    response = raw_request(api.url, "GET", "/signing-platforms", b"", api.admin, signed_at=old)
    assert response.status == 403
    assert response.error_type == "InvalidSignatureException"
    assert "Signature expired" in response.json()["message"]
    future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    response = raw_request(api.url, "GET", "/signing-platforms", b"", api.admin, signed_at=future)
    assert response.error_type == "InvalidSignatureException"
    assert "not yet current" in response.json()["message"]


def test_within_clock_skew_is_accepted(api: ApiEnv) -> None:
    skewed = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=4)
    response = raw_request(api.url, "GET", "/signing-platforms", b"", api.admin, signed_at=skewed)
    assert response.status == 200


def test_replay_with_changed_body(api: ApiEnv) -> None:
    body = json.dumps(
        {"profileName": "abc", "payload": "eA==", "payloadFormat": "application/octet-stream"}
    ).encode()
    changed = body.replace(b"abc", b"abd")
    response = raw_request(
        api.url,
        "POST",
        "/signing-jobs/with-payload",
        body,
        api.admin,
        headers={"Content-Type": "application/json"},
        send_body=changed,
    )
    assert response.status == 403
    assert response.error_type == "InvalidSignatureException"


def test_content_sha256_must_match_body(api: ApiEnv) -> None:
    response = raw_request(
        api.url,
        "GET",
        "/signing-platforms",
        b"",
        api.admin,
        headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
    )
    assert response.status == 403
    assert response.error_type == "InvalidSignatureException"


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("Basic dXNlcjpwYXNz", "IncompleteSignatureException"),
        ("AWS4-HMAC-SHA256 Credential=x", "IncompleteSignatureException"),
        (
            "AWS4-HMAC-SHA256 Credential=A/B, SignedHeaders=host, Signature=00",
            "IncompleteSignatureException",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=FSAKAAAAAAAAAAAAAAAA/20200101/us-east-1/signer/"
            "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
            "IncompleteSignatureException",
        ),
    ],
)
def test_malformed_authorization(api: ApiEnv, authorization: str, code: str) -> None:
    response = raw_request(
        api.url, "GET", "/signing-platforms", headers={"Authorization": authorization}
    )
    assert response.status == 403
    assert response.error_type == code


def test_wrong_region_and_service(api: ApiEnv) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    for service, region, fragment in [
        ("s3", "us-east-1", "service"),
        ("signer", "eu-west-1", "region"),
    ]:
        request = AWSRequest(method="GET", url=f"{api.url}/signing-platforms")
        credentials = Credentials(api.admin["AccessKeyId"], api.admin["SecretAccessKey"])
        SigV4Auth(credentials, service, region).add_auth(request)
        prepared = request.prepare()
        outgoing = urllib.request.Request(prepared.url, headers=dict(prepared.headers.items()))
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(outgoing, timeout=10)
        assert info.value.code == 403
        assert info.value.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
        assert fragment in json.loads(info.value.read())["message"]


@pytest.fixture(scope="module")
def limited_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, dict[str, str]]]:
    """A server that allows one request per access key and then none for ~17 minutes."""
    home = tmp_path_factory.mktemp("limited")
    workspace = Workspace(home, f"sqlite:///{home / 'firmseal.db'}")
    workspace.run("init")
    admin = workspace.principal("admin", admin=True)
    server = start_server(workspace, "--rate-limit", "0.001", "--signing-workers", "0")
    yield server, admin
    server.stop()


def test_rate_limit_is_too_many_requests(limited_server: tuple[Server, dict[str, str]]) -> None:
    server, admin = limited_server
    signer = signer_client(server.url, admin)
    signer.list_signing_platforms()
    with pytest.raises(ClientError) as info:
        signer.list_signing_platforms()
    assert info.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_access_log_has_request_ids_and_no_secrets(api: ApiEnv, tmp_path: Path) -> None:
    response = api.client().list_signing_platforms()
    request_id = response["ResponseMetadata"]["RequestId"]
    log = api.server.log()
    assert request_id in log
    assert "Traceback" not in log
    assert api.admin["SecretAccessKey"] not in log
    assert api.user["SecretAccessKey"] not in log


def _start_job_body(**changes: str) -> dict[str, object]:
    body: dict[str, object] = {
        "source": {"s3": {"bucketName": "firmware-src", "key": "releases/fw.bin", "version": "v"}},
        "destination": {"s3": {"bucketName": "out-bucket", "prefix": "signed/"}},
        "profileName": "surrogate_profile",
        "clientRequestToken": uuid.uuid4().hex,
    }
    source = body["source"]["s3"]  # type: ignore[index]
    destination = body["destination"]["s3"]  # type: ignore[index]
    for field, value in changes.items():
        if field == "key":
            source["key"] = value
        elif field == "prefix":
            destination["prefix"] = value
        else:
            body[field] = value
    return body


PROFILE_ARN = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/surrogate_profile"
TAGS_PATH = "/tags/" + urllib.parse.quote(PROFILE_ARN, safe="")


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/signing-jobs", _start_job_body(prefix="\ud800"), "destination.s3.prefix"),
        ("POST", "/signing-jobs", _start_job_body(key="a\ud800b"), "source.s3.key"),
        (
            "POST",
            "/signing-jobs",
            _start_job_body(clientRequestToken="\udfff"),
            "clientRequestToken",
        ),
        ("PUT", "/signing-jobs/job-1/revoke", {"reason": "\ud800"}, "reason"),
        ("POST", TAGS_PATH, {"tags": {"team": "\ud800"}}, "tags.team"),
        ("POST", TAGS_PATH, {"tags": {"\ud800": "fw"}}, "tags.\\ud800"),
        (
            "POST",
            "/signing-profiles/surrogate_profile/permissions",
            {"action": "signer:StartSigningJob", "principal": "\ud800", "statementId": "s1"},
            "principal",
        ),
        (
            "POST",
            "/signing-profiles/surrogate_profile/permissions",
            {"action": "signer:StartSigningJob", "principal": "bob", "statementId": "\ud800"},
            "statementId",
        ),
        (
            "PUT",
            "/signing-profiles/surrogate_profile",
            {"platformId": IOT, "signingMaterial": {"certificateArn": "\ud800"}},
            "signingMaterial.certificateArn",
        ),
        (
            "PUT",
            "/signing-profiles/surrogate_profile",
            {"platformId": IOT, "signingParameters": {"k": "\ud800"}},
            "signingParameters.k",
        ),
        (
            "PUT",
            "/signing-profiles/surrogate_profile",
            {"platformId": IOT, "signingParameters": {"\ud800": "v"}},
            "signingParameters.\\ud800",
        ),
    ],
)
def test_lone_surrogate_is_validation_error(
    api: ApiEnv, method: str, path: str, body: dict[str, object], field: str
) -> None:
    encoded = json.dumps(body).encode()
    response = raw_request(api.url, method, path, encoded, api.admin)
    assert response.status == 400, response.body[:300]
    assert response.error_type == "ValidationException"
    message = response.json()["message"]
    assert f"at '{field}'" in message
    assert "lone surrogates" in message
    assert_alive(api)


def test_lone_surrogate_profile_not_stored(api: ApiEnv) -> None:
    name = f"surrogate_{uuid.uuid4().hex[:8]}"
    body = {
        "platformId": IOT,
        "signingMaterial": {"certificateArn": api.certificate_arn},
        "signingParameters": {"k": "\ud800"},
    }
    response = raw_request(
        api.url, "PUT", f"/signing-profiles/{name}", json.dumps(body).encode(), api.admin
    )
    assert response.status == 400
    assert response.error_type == "ValidationException"
    signer = api.client()
    names = [p["profileName"] for p in signer.list_signing_profiles()["profiles"]]
    assert name not in names
    with pytest.raises(ClientError) as info:
        signer.get_signing_profile(profileName=name)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


FORGED_PATH = "/x%0aINFO%20firmseal.api.access:%20forged%20line%0d%1b[31m"


def wait_for_log(api: ApiEnv, text: str) -> str:
    """Return the server log once it contains `text`, or after 10 s (the access log line is
    written after the response is sent)."""
    deadline = time.monotonic() + 10
    log = api.server.log()
    while text not in log and time.monotonic() < deadline:
        time.sleep(0.05)
        log = api.server.log()
    return log


def _send_unsigned(url: str, method: str, path: str) -> RawResponse:
    request = urllib.request.Request(f"{url}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return RawResponse(response.status, _lower(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return RawResponse(error.code, _lower(error.headers), error.read())


def test_access_log_escapes_control_characters(api: ApiEnv) -> None:
    response = _send_unsigned(api.url, "GET", FORGED_PATH)
    assert response.status == 403
    assert response.error_type == "MissingAuthenticationTokenException"
    assert response.json()["message"] == "Missing Authentication Token"
    escaped = "/x\\x0aINFO\\x20firmseal.api.access:\\x20forged\\x20line\\x0d\\x1b[31m"
    log = wait_for_log(api, escaped)
    assert escaped in log
    assert "\nINFO firmseal.api.access: forged line" not in log
    assert "\x1b" not in log
    assert "\r" not in log


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", FORGED_PATH),
        ("GET", "/no/such/route"),
        ("OPTIONS", "/signing-profiles"),
        ("TRACE", "/signing-jobs"),
        ("PROPFIND", "/"),
    ],
)
def test_unknown_route_unsigned_gets_aws_error(api: ApiEnv, method: str, path: str) -> None:
    response = _send_unsigned(api.url, method, path)
    assert response.status == 403
    assert response.error_type == "MissingAuthenticationTokenException"
    assert response.headers["content-type"] == "application/json"
    assert response.json()["message"] == "Missing Authentication Token"


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "PROPFIND"])
def test_unknown_method_signed_gets_aws_error(api: ApiEnv, method: str) -> None:
    response = raw_request(api.url, method, "/signing-profiles", b"", api.admin)
    assert response.status == 404
    assert response.error_type == "UnknownOperationException"
    message = response.json()["message"]
    assert message == f"no AWS Signer operation at {method} /signing-profiles"


def test_body_over_limit_names_sizes(api: ApiEnv) -> None:
    body = b'{"platformId": "' + b"A" * 300000 + b'"}'
    response = raw_request(api.url, "PUT", "/signing-profiles/abc", body, api.admin)
    assert response.status == 400
    assert response.error_type == "ValidationException"
    message = response.json()["message"]
    assert message.startswith(
        f"request body is {len(body)} bytes, over the limit of {256 * 1024} bytes"
    )
    assert "FIRMSEAL_MAX_BODY_BYTES" in message


def test_chunked_body_over_limit(api: ApiEnv) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", api.server.port, timeout=30)
    chunks = (b"A" * 65536 for _ in range(8))
    connection.request("PUT", "/signing-profiles/abc", body=chunks, encode_chunked=True)
    response = connection.getresponse()
    document = json.loads(response.read())
    connection.close()
    assert response.status == 400
    assert response.getheader("x-amzn-ErrorType") == "ValidationException"
    assert document["message"].startswith("request body is at least ")
    assert f"over the limit of {256 * 1024} bytes" in document["message"]


def test_service_log_escapes_request_values(api: ApiEnv) -> None:
    name = f"logged_{uuid.uuid4().hex[:8]}"
    api.client().put_signing_profile(
        profileName=name, platformId=IOT, signingMaterial={"certificateArn": api.certificate_arn}
    )
    statement_id = f"{name}\nINFO firmseal.forged: line\x1b[31m"
    api.client().add_profile_permission(
        profileName=name,
        action="signer:StartSigningJob",
        principal="alice",
        statementId=statement_id,
    )
    escaped = f"added statement {name}\\x0aINFO firmseal.forged: line\\x1b[31m to profile {name}"
    log = wait_for_log(api, escaped)
    assert escaped in log
    assert "\nINFO firmseal.forged: line" not in log
    assert "\x1b" not in log

"""Every AWS Signer operation through boto3's `signer` client against a real server."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from api_server import FIRMWARE
from conftest import ApiEnv, openssl_verifies

IOT = "AWSIoTDeviceManagement-SHA256-ECDSA"
FREERTOS = "AmazonFreeRTOS-Default"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def error_code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def put_profile(api: ApiEnv, name: str, platform: str = IOT, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "profileName": name,
        "platformId": platform,
        "signingMaterial": {"certificateArn": api.certificate_arn},
        **extra,
    }
    if platform == FREERTOS and "signingParameters" not in extra:
        params["signingParameters"] = {"certname": "/certs/signer.pem"}
    response: dict[str, Any] = api.client().put_signing_profile(**params)
    return response


def start_job(api: ApiEnv, profile: str, token: str | None = None, **client: Any) -> str:
    signer = api.client(client.get("credentials"))
    response = signer.start_signing_job(
        source={
            "s3": {
                "bucketName": "firmware-src",
                "key": "releases/fw.bin",
                "version": api.source_version,
            }
        },
        destination={"s3": {"bucketName": "firmware-signed", "prefix": "out/"}},
        profileName=profile,
        clientRequestToken=token or uuid.uuid4().hex,
    )
    job_id: str = response["jobId"]
    return job_id


def wait_for_job(api: ApiEnv, job_id: str) -> dict[str, Any]:
    signer = api.client()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job: dict[str, Any] = signer.describe_signing_job(jobId=job_id)
        if job["status"] != "InProgress":
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still InProgress after 60 s:\n{api.server.log()}")


def test_list_and_get_platforms(api: ApiEnv) -> None:
    signer = api.client()
    platforms = signer.list_signing_platforms()["platforms"]
    ids = {p["platformId"] for p in platforms}
    assert {FREERTOS, IOT} <= ids
    platform = signer.get_signing_platform(platformId=FREERTOS)
    assert platform["category"] == "AWS"
    assert platform["maxSizeInMB"] == 16
    assert platform["signingImageFormat"]["defaultFormat"] == "JSONEmbedded"


def test_list_platforms_paginates_and_filters(api: ApiEnv) -> None:
    signer = api.client()
    first = signer.list_signing_platforms(maxResults=1)
    assert len(first["platforms"]) == 1
    assert "nextToken" in first
    second = signer.list_signing_platforms(maxResults=1, nextToken=first["nextToken"])
    assert second["platforms"][0]["platformId"] != first["platforms"][0]["platformId"]
    filtered = signer.list_signing_platforms(partner="AmazonFreeRTOS")["platforms"]
    assert [p["platformId"] for p in filtered] == [FREERTOS]


def test_get_unknown_platform_is_not_found(api: ApiEnv) -> None:
    with pytest.raises(ClientError) as info:
        api.client().get_signing_platform(platformId="NoSuchPlatform")
    assert error_code(info) == "ResourceNotFoundException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_put_and_get_profile(api: ApiEnv) -> None:
    name = unique("prof")
    created = put_profile(
        api, name, signatureValidityPeriod={"value": 2, "type": "YEARS"}, tags={"team": "fw"}
    )
    assert created["arn"] == f"arn:aws:signer:us-east-1:123456789012:/signing-profiles/{name}"
    assert created["profileVersionArn"] == f"{created['arn']}/{created['profileVersion']}"
    profile = api.client().get_signing_profile(profileName=name)
    assert profile["status"] == "Active"
    assert profile["platformId"] == IOT
    assert profile["signingMaterial"]["certificateArn"] == api.certificate_arn
    assert profile["signatureValidityPeriod"] == {"value": 2, "type": "YEARS"}
    assert profile["tags"] == {"team": "fw"}
    assert profile["profileVersion"] == created["profileVersion"]


def test_put_profile_name_taken_even_when_canceled(api: ApiEnv) -> None:
    name = unique("taken")
    put_profile(api, name)
    api.client().cancel_signing_profile(profileName=name)
    with pytest.raises(ClientError) as info:
        put_profile(api, name)
    assert error_code(info) == "ValidationException"
    assert "already taken" in str(info.value)
    assert "Canceled" in str(info.value)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"platformId": "NoSuchPlatform"}, "NoSuchPlatform"),
        ({"signingMaterial": None}, "signingMaterial"),
        ({"profileName": "has-dash"}, "invalid profile name"),
        ({"profileName": "-x"}, "regular expression pattern"),
        ({"profileName": "x" * 65}, "less than or equal to 64"),
        ({"signingParameters": {}, "platformId": FREERTOS}, "certname"),
        ({"signatureValidityPeriod": {"value": 0, "type": "DAYS"}}, "validity"),
        ({"overrides": {"signingImageFormat": "JSONEmbedded"}}, "signingImageFormat"),
    ],
)
def test_put_profile_rejects_invalid(api: ApiEnv, params: dict[str, Any], fragment: str) -> None:
    request: dict[str, Any] = {
        "profileName": unique("bad"),
        "platformId": IOT,
        "signingMaterial": {"certificateArn": api.certificate_arn},
        **params,
    }
    request = {k: v for k, v in request.items() if v is not None}
    with pytest.raises(ClientError) as info:
        api.client().put_signing_profile(**request)
    assert error_code(info) == "ValidationException"
    assert fragment in str(info.value)


def test_put_profile_unknown_certificate(api: ApiEnv) -> None:
    with pytest.raises(ClientError) as info:
        api.client().put_signing_profile(
            profileName=unique("nocert"),
            platformId=IOT,
            signingMaterial={"certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x"},
        )
    assert error_code(info) == "ResourceNotFoundException"


def test_cancel_profile(api: ApiEnv) -> None:
    name = unique("cancel")
    put_profile(api, name)
    signer = api.client()
    signer.cancel_signing_profile(profileName=name)
    assert signer.get_signing_profile(profileName=name)["status"] == "Canceled"
    with pytest.raises(ClientError) as info:
        signer.cancel_signing_profile(profileName=unique("missing"))
    assert error_code(info) == "ResourceNotFoundException"


def test_list_profiles_paginates_and_filters(api: ApiEnv) -> None:
    names = [unique("page") for _ in range(3)]
    for name in names:
        put_profile(api, name)
    canceled = unique("gone")
    put_profile(api, canceled)
    signer = api.client()
    signer.cancel_signing_profile(profileName=canceled)
    seen: list[str] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"maxResults": 2}
        if token:
            kwargs["nextToken"] = token
        page = signer.list_signing_profiles(**kwargs)
        assert len(page["profiles"]) <= 2
        seen += [p["profileName"] for p in page["profiles"]]
        token = page.get("nextToken")
        if not token:
            break
    assert set(names) <= set(seen)
    assert canceled not in seen
    assert len(seen) == len(set(seen))
    with_canceled = signer.list_signing_profiles(includeCanceled=True, maxResults=25)
    assert canceled in {p["profileName"] for p in with_canceled["profiles"]}
    only_canceled = signer.list_signing_profiles(statuses=["Canceled"])["profiles"]
    assert {p["status"] for p in only_canceled} == {"Canceled"}


def test_start_job_signs_into_destination(api: ApiEnv, tmp_path: Path) -> None:
    name = unique("iot")
    put_profile(api, name)
    job_id = start_job(api, name)
    job = wait_for_job(api, job_id)
    assert job["status"] == "Succeeded", job.get("statusReason")
    assert job["signedObject"]["s3"] == {
        "bucketName": "firmware-signed",
        "key": f"out/{job_id}.sig",
    }
    assert job["requestedBy"] == "arn:aws:iam::123456789012:user/admin"
    assert job["source"]["s3"]["version"] == api.source_version
    assert job["signatureExpiresAt"] > job["createdAt"]
    signature = tmp_path / "fw.sig"
    api.workspace.run("object", "get", "firmware-signed", f"out/{job_id}.sig", str(signature))
    public_key = tmp_path / "release.pem"
    public_key.write_text(api.workspace.run("key", "public-key", "release"))
    assert openssl_verifies(public_key, signature, FIRMWARE)
    api.workspace.run(
        "verify", str(FIRMWARE), "--signature", str(signature), "--public-key", str(public_key)
    )


def test_freertos_job_writes_signed_json(api: ApiEnv, tmp_path: Path) -> None:
    name = unique("rtos")
    put_profile(api, name, platform=FREERTOS)
    job_id = start_job(api, name)
    job = wait_for_job(api, job_id)
    assert job["status"] == "Succeeded", job.get("statusReason")
    key = job["signedObject"]["s3"]["key"]
    assert key == f"out/{job_id}.signed.json"
    signed = tmp_path / "fw.signed.json"
    api.workspace.run("object", "get", "firmware-signed", key, str(signed))
    cert = tmp_path / "cert.pem"
    cert.write_text(api.workspace.run("cert", "export", "release-cert"))
    ca = tmp_path / "ca.pem"
    ca.write_text(api.workspace.run("ca", "export", "acme"))
    api.workspace.run(
        "verify",
        str(FIRMWARE),
        "--signed-object",
        str(signed),
        "--certificate",
        str(cert),
        "--ca",
        str(ca),
    )


def test_start_job_is_idempotent_on_token(api: ApiEnv) -> None:
    name = unique("idem")
    put_profile(api, name)
    token = uuid.uuid4().hex
    first = start_job(api, name, token)
    again = start_job(api, name, token)
    assert again == first
    other = unique("idem")
    put_profile(api, other)
    with pytest.raises(ClientError) as info:
        start_job(api, other, token)
    assert error_code(info) == "ConflictException"
    assert "clientRequestToken" in str(info.value)


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ({"bucketName": "firmware-src", "key": "releases/fw.bin", "version": "nope"}, "not found"),
        (
            {
                "bucketName": "firmware-src",
                "key": "missing.bin",
                "version": "00000000000000000001-0000000000000000",
            },
            "not found",
        ),
        ({"bucketName": "../etc", "key": "fw.bin", "version": "v"}, "invalid bucket"),
        ({"bucketName": "firmware-src", "key": "a\u0001b", "version": "v"}, "invalid object key"),
    ],
)
def test_start_job_rejects_bad_source(api: ApiEnv, source: dict[str, str], fragment: str) -> None:
    name = unique("src")
    put_profile(api, name)
    with pytest.raises(ClientError) as info:
        api.client().start_signing_job(
            source={"s3": source},
            destination={"s3": {"bucketName": "firmware-signed"}},
            profileName=name,
            clientRequestToken=uuid.uuid4().hex,
        )
    assert error_code(info) == "ValidationException"
    assert fragment in str(info.value)


def test_start_job_requires_source_version(api: ApiEnv) -> None:
    with pytest.raises(ClientError) as info:
        api.client().start_signing_job(
            source={"s3": {"bucketName": "firmware-src", "key": "releases/fw.bin", "version": ""}},
            destination={"s3": {"bucketName": "firmware-signed"}},
            profileName=unique("nover"),
            clientRequestToken=uuid.uuid4().hex,
        )
    assert error_code(info) == "ValidationException"


def test_start_job_unknown_profile(api: ApiEnv) -> None:
    with pytest.raises(ClientError) as info:
        start_job(api, unique("nosuch"))
    assert error_code(info) == "ResourceNotFoundException"


def test_start_job_over_platform_size_limit(api: ApiEnv, tmp_path: Path) -> None:
    name = unique("big")
    put_profile(api, name, platform=FREERTOS)
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        out.truncate(16 * 1024 * 1024 + 1)
    version = api.workspace.put_object("firmware-src", "big.bin", big)
    with pytest.raises(ClientError) as info:
        api.client().start_signing_job(
            source={"s3": {"bucketName": "firmware-src", "key": "big.bin", "version": version}},
            destination={"s3": {"bucketName": "firmware-signed"}},
            profileName=name,
            clientRequestToken=uuid.uuid4().hex,
        )
    assert error_code(info) == "ValidationException"
    assert "over platform" in str(info.value)


def test_describe_unknown_job(api: ApiEnv) -> None:
    with pytest.raises(ClientError) as info:
        api.client().describe_signing_job(jobId=str(uuid.uuid4()))
    assert error_code(info) == "ResourceNotFoundException"


def test_sign_payload_verifies(api: ApiEnv, tmp_path: Path) -> None:
    name = unique("payload")
    put_profile(api, name)
    payload = b"manifest: fw 1.2.3\n"
    response = api.client().sign_payload(
        profileName=name, payload=payload, payloadFormat="application/octet-stream"
    )
    assert response["jobOwner"] == "123456789012"
    assert response["metadata"]["digest"] == hashlib.sha256(payload).hexdigest()
    certificate = x509.load_pem_x509_certificate(
        api.workspace.run("cert", "export", "release-cert").encode()
    )
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(response["signature"], payload, ec.ECDSA(hashes.SHA256()))
    job = api.client().describe_signing_job(jobId=response["jobId"])
    assert job["status"] == "Succeeded"


@pytest.mark.parametrize(
    ("payload", "payload_format", "fragment"),
    [
        (b"x" * 4097, "application/octet-stream", "less than or equal to 4096"),
        (b"x", "application/json", "payloadFormat"),
    ],
)
def test_sign_payload_rejects(
    api: ApiEnv, payload: bytes, payload_format: str, fragment: str
) -> None:
    name = unique("pl")
    put_profile(api, name)
    with pytest.raises(ClientError) as info:
        api.client().sign_payload(profileName=name, payload=payload, payloadFormat=payload_format)
    assert error_code(info) == "ValidationException"
    assert fragment in str(info.value)


def test_list_jobs_paginates_and_filters(api: ApiEnv) -> None:
    name = unique("jobs")
    put_profile(api, name)
    signer = api.client()
    job_ids = [
        signer.sign_payload(
            profileName=name, payload=b"p%d" % i, payloadFormat="application/octet-stream"
        )["jobId"]
        for i in range(3)
    ]
    seen: list[str] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"maxResults": 2, "platformId": IOT, "status": "Succeeded"}
        if token:
            kwargs["nextToken"] = token
        page = signer.list_signing_jobs(**kwargs)
        assert len(page["jobs"]) <= 2
        seen += [job["jobId"] for job in page["jobs"]]
        token = page.get("nextToken")
        if not token:
            break
    assert set(job_ids) <= set(seen)
    assert len(seen) == len(set(seen))

    mine = signer.list_signing_jobs(requestedBy="arn:aws:iam::123456789012:user/admin")
    assert all(job["status"] for job in mine["jobs"])
    nobody = signer.list_signing_jobs(requestedBy="arn:aws:iam::123456789012:user/nobody")
    assert nobody["jobs"] == []
    other_account = signer.list_signing_jobs(jobInvoker="210987654321")
    assert other_account["jobs"] == []
    this_account = signer.list_signing_jobs(jobInvoker="123456789012", maxResults=1)
    assert len(this_account["jobs"]) == 1
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=20 * 366)
    before = signer.list_signing_jobs(signatureExpiresBefore=later, maxResults=25)["jobs"]
    assert before
    after_later = signer.list_signing_jobs(signatureExpiresAfter=later)["jobs"]
    assert after_later == []
    after_now = signer.list_signing_jobs(signatureExpiresAfter=dt.datetime.now(dt.UTC))
    assert after_now["jobs"]


def test_list_jobs_rejects_foreign_token(api: ApiEnv) -> None:
    signer = api.client()
    with pytest.raises(ClientError) as info:
        signer.list_signing_jobs(nextToken="not-a-token")
    assert error_code(info) == "ValidationException"
    with pytest.raises(ClientError) as info:
        signer.list_signing_jobs(maxResults=26)
    assert error_code(info) == "ValidationException"


def test_revoke_signature(api: ApiEnv) -> None:
    name = unique("revsig")
    put_profile(api, name)
    signer = api.client()
    job_id = signer.sign_payload(
        profileName=name, payload=b"x", payloadFormat="application/octet-stream"
    )["jobId"]
    signer.revoke_signature(jobId=job_id, reason="key compromised")
    job = signer.describe_signing_job(jobId=job_id)
    assert job["revocationRecord"]["reason"] == "key compromised"
    assert job["revocationRecord"]["revokedBy"] == "arn:aws:iam::123456789012:user/admin"
    revoked = signer.list_signing_jobs(isRevoked=True, maxResults=25)["jobs"]
    assert job_id in {j["jobId"] for j in revoked}
    with pytest.raises(ClientError) as info:
        signer.revoke_signature(jobId=str(uuid.uuid4()), reason="x")
    assert error_code(info) == "ResourceNotFoundException"


def test_revoke_profile_and_status(api: ApiEnv) -> None:
    name = unique("revprof")
    created = put_profile(api, name)
    signer = api.client()
    job_id = signer.sign_payload(
        profileName=name, payload=b"x", payloadFormat="application/octet-stream"
    )["jobId"]
    version = created["profileVersion"]
    now = dt.datetime.now(dt.UTC)
    effective = now - dt.timedelta(hours=1)
    signer.revoke_signing_profile(
        profileName=name, profileVersion=version, reason="retired", effectiveTime=effective
    )

    profile = signer.get_signing_profile(profileName=name)
    assert profile["status"] == "Revoked"
    record = profile["revocationRecord"]
    assert abs(record["revocationEffectiveFrom"].timestamp() - effective.timestamp()) < 1

    job_arn = f"arn:aws:signer:us-east-1:123456789012:/signing-jobs/{job_id}"
    certificate = x509.load_pem_x509_certificate(
        api.workspace.run("cert", "export", "release-cert").encode()
    )
    issuer = x509.load_pem_x509_certificate(api.workspace.run("ca", "export", "acme").encode())
    cert_hash = (
        hashlib.sha384(certificate.tbs_certificate_bytes).hexdigest()
        + hashlib.sha384(issuer.tbs_certificate_bytes).hexdigest()
    )
    status = signer.get_revocation_status(
        signatureTimestamp=now,
        platformId=IOT,
        profileVersionArn=created["profileVersionArn"],
        jobArn=job_arn,
        certificateHashes=[cert_hash, "00" * 96],
    )
    assert status["revokedEntities"] == [created["profileVersionArn"], cert_hash]
    before = signer.get_revocation_status(
        signatureTimestamp=effective - dt.timedelta(hours=1),
        platformId=IOT,
        profileVersionArn=created["profileVersionArn"],
        jobArn=job_arn,
        certificateHashes=[cert_hash],
    )
    assert before["revokedEntities"] == []


def test_revoke_profile_time_rules(api: ApiEnv) -> None:
    name = unique("revtime")
    version = put_profile(api, name)["profileVersion"]
    signer = api.client()
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(ClientError) as info:
        signer.revoke_signing_profile(
            profileName=name,
            profileVersion=version,
            reason="r",
            effectiveTime=now + dt.timedelta(hours=1),
        )
    assert error_code(info) == "ValidationException"
    assert "future" in str(info.value)
    signer.revoke_signing_profile(
        profileName=name,
        profileVersion=version,
        reason="r",
        effectiveTime=now - dt.timedelta(hours=1),
    )
    with pytest.raises(ClientError) as info:
        signer.revoke_signing_profile(
            profileName=name,
            profileVersion=version,
            reason="r",
            effectiveTime=now - dt.timedelta(minutes=30),
        )
    assert error_code(info) == "ValidationException"
    assert "earlier" in str(info.value)
    signer.revoke_signing_profile(
        profileName=name,
        profileVersion=version,
        reason="r",
        effectiveTime=now - dt.timedelta(hours=2),
    )
    with pytest.raises(ClientError) as info:
        start_job(api, name)
    assert error_code(info) == "ValidationException"
    assert "Revoked" in str(info.value)


def test_revocation_status_with_job_revoked(api: ApiEnv) -> None:
    name = unique("revjob")
    created = put_profile(api, name)
    signer = api.client()
    job_id = signer.sign_payload(
        profileName=name, payload=b"x", payloadFormat="application/octet-stream"
    )["jobId"]
    signer.revoke_signature(jobId=job_id, reason="bad build")
    job_arn = f"arn:aws:signer:us-east-1:123456789012:/signing-jobs/{job_id}"
    status = signer.get_revocation_status(
        signatureTimestamp=dt.datetime.now(dt.UTC),
        platformId=IOT,
        profileVersionArn=created["profileVersionArn"],
        jobArn=job_arn,
        certificateHashes=["ab" * 96],
    )
    assert status["revokedEntities"] == [job_arn]
    with pytest.raises(ClientError) as info:
        signer.get_revocation_status(
            signatureTimestamp=dt.datetime.now(dt.UTC),
            platformId=IOT,
            profileVersionArn="arn:aws:signer:us-east-1:123456789012:/signing-profiles/x_y",
            jobArn=job_arn,
            certificateHashes=["ab"],
        )
    assert error_code(info) == "ValidationException"


def test_permissions_with_revision_ids(api: ApiEnv) -> None:
    name = unique("perm")
    put_profile(api, name)
    signer = api.client()
    first = signer.add_profile_permission(
        profileName=name, action="signer:SignPayload", principal="alice", statementId="s1"
    )["revisionId"]
    second = signer.add_profile_permission(
        profileName=name,
        action="signer:StartSigningJob",
        principal="alice",
        statementId="s2",
        revisionId=first,
    )["revisionId"]
    assert second != first
    with pytest.raises(ClientError) as info:
        signer.add_profile_permission(
            profileName=name,
            action="signer:SignPayload",
            principal="bob",
            statementId="s3",
            revisionId=first,
        )
    assert error_code(info) == "ConflictException"

    listed = signer.list_profile_permissions(profileName=name)
    assert listed["revisionId"] == second
    assert [p["statementId"] for p in listed["permissions"]] == ["s1", "s2"]
    assert listed["policySizeBytes"] > 0
    with pytest.raises(ClientError) as info:
        signer.remove_profile_permission(profileName=name, statementId="s1", revisionId=first)
    assert error_code(info) == "ConflictException"
    third = signer.remove_profile_permission(
        profileName=name, statementId="s1", revisionId=second
    )["revisionId"]
    assert third not in (first, second)
    with pytest.raises(ClientError) as info:
        signer.remove_profile_permission(profileName=name, statementId="s1", revisionId=third)
    assert error_code(info) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        signer.add_profile_permission(
            profileName=name,
            action="signer:Everything",
            principal="x",
            statementId="s9",
            revisionId=third,
        )
    assert error_code(info) == "ValidationException"


def test_permission_limit_is_service_limit(api: ApiEnv) -> None:
    name = unique("limit")
    put_profile(api, name)
    signer = api.client()
    revision = None
    for i in range(100):
        kwargs: dict[str, Any] = {"revisionId": revision} if revision else {}
        revision = signer.add_profile_permission(
            profileName=name,
            action="signer:SignPayload",
            principal=f"p{i}",
            statementId=f"s{i}",
            **kwargs,
        )["revisionId"]
    with pytest.raises(ClientError) as info:
        signer.add_profile_permission(
            profileName=name,
            action="signer:SignPayload",
            principal="one-more",
            statementId="s100",
            revisionId=revision,
        )
    assert error_code(info) == "ServiceLimitExceededException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402
    page = signer.list_profile_permissions(profileName=name)
    assert len(page["permissions"]) == 25
    rest = signer.list_profile_permissions(profileName=name, nextToken=page["nextToken"])
    assert rest["permissions"][0]["statementId"] not in {
        p["statementId"] for p in page["permissions"]
    }


def test_non_admin_needs_a_statement(api: ApiEnv) -> None:
    name = unique("grant")
    put_profile(api, name)
    alice = api.client(api.user)
    with pytest.raises(ClientError) as info:
        alice.sign_payload(
            profileName=name, payload=b"x", payloadFormat="application/octet-stream"
        )
    assert error_code(info) == "AccessDeniedException"
    with pytest.raises(ClientError) as info:
        alice.put_signing_profile(
            profileName=unique("nope"),
            platformId=IOT,
            signingMaterial={"certificateArn": api.certificate_arn},
        )
    assert error_code(info) == "AccessDeniedException"
    with pytest.raises(ClientError) as info:
        alice.get_signing_profile(profileName=name)
    assert error_code(info) == "AccessDeniedException"
    api.client().add_profile_permission(
        profileName=name, action="signer:SignPayload", principal="alice", statementId="alice"
    )
    response = alice.sign_payload(
        profileName=name, payload=b"x", payloadFormat="application/octet-stream"
    )
    job = api.client().describe_signing_job(jobId=response["jobId"])
    assert job["requestedBy"] == "arn:aws:iam::123456789012:user/alice"
    with pytest.raises(ClientError) as info:
        start_job(api, name, credentials=api.user)
    assert error_code(info) == "AccessDeniedException"


def test_tags(api: ApiEnv) -> None:
    name = unique("tags")
    arn = put_profile(api, name)["arn"]
    signer = api.client()
    signer.tag_resource(resourceArn=arn, tags={"env": "prod", "team": "fw"})
    assert signer.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "prod", "team": "fw"}
    signer.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert signer.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "fw"}
    missing = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/no_such_profile"
    with pytest.raises(ClientError) as info:
        signer.list_tags_for_resource(resourceArn=missing)
    assert error_code(info) == "NotFoundException"
    with pytest.raises(ClientError) as info:
        signer.tag_resource(resourceArn="not-an-arn", tags={"a": "b"})
    assert error_code(info) == "BadRequestException"
    with pytest.raises(ClientError) as info:
        signer.tag_resource(resourceArn=arn, tags={"aws:reserved": "b"})
    assert error_code(info) == "ValidationException"


def test_sign_payload_unknown_profile(api: ApiEnv) -> None:
    with pytest.raises(ClientError) as info:
        api.client().sign_payload(
            profileName=unique("absent"), payload=b"x", payloadFormat="application/octet-stream"
        )
    assert error_code(info) == "ResourceNotFoundException"
    assert "not found" in str(info.value)


def test_sign_payload_canceled_profile(api: ApiEnv) -> None:
    name = unique("plcancel")
    put_profile(api, name)
    api.client().cancel_signing_profile(profileName=name)
    with pytest.raises(ClientError) as info:
        api.client().sign_payload(
            profileName=name, payload=b"x", payloadFormat="application/octet-stream"
        )
    assert error_code(info) == "ValidationException"
    assert "Canceled" in str(info.value)


def test_mcuboot_job_signs_image(api: ApiEnv, tmp_path: Path) -> None:
    name = unique("mcu")
    put_profile(
        api,
        name,
        platform="MCUboot-ECDSA-P256",
        signingParameters={"version": "1.2.3", "pad-header": "true"},
    )
    job_id = start_job(api, name)
    job = wait_for_job(api, job_id)
    assert job["status"] == "Succeeded", job.get("statusReason")
    key = job["signedObject"]["s3"]["key"]
    assert key == f"out/{job_id}.signed.bin"
    signed = tmp_path / "fw.signed.bin"
    api.workspace.run("object", "get", "firmware-signed", key, str(signed))
    public_key = tmp_path / "release.pem"
    public_key.write_text(api.workspace.run("key", "public-key", "release"))
    api.workspace.run("verify", str(signed), "--public-key", str(public_key))


def test_mcuboot_job_without_version_fails(api: ApiEnv) -> None:
    name = unique("mcuver")
    put_profile(api, name, platform="MCUboot-ECDSA-P256")
    job = wait_for_job(api, start_job(api, name))
    assert job["status"] == "Failed"
    assert "version" in job["statusReason"]
    assert "signedObject" not in job


def test_job_with_long_source_key_and_prefix(api: ApiEnv) -> None:
    """Keys longer than the 255-byte maximum file name are stored and signed."""
    long_key = "d" * 300 + "/fw.bin"
    version = api.workspace.put_object("firmware-src", long_key, FIRMWARE)
    prefix = "p" * 300 + "/"
    name = unique("longkey")
    put_profile(api, name)
    job_id = api.client().start_signing_job(
        source={"s3": {"bucketName": "firmware-src", "key": long_key, "version": version}},
        destination={"s3": {"bucketName": "firmware-signed", "prefix": prefix}},
        profileName=name,
        clientRequestToken=uuid.uuid4().hex,
    )["jobId"]
    job = wait_for_job(api, job_id)
    assert job["status"] == "Succeeded", job.get("statusReason")
    assert job["signedObject"]["s3"]["key"] == f"{prefix}{job_id}.sig"
    listed = api.workspace.json("object", "list", "firmware-signed", "--prefix", prefix)
    assert [o["key"] for o in listed["objects"]] == [f"{prefix}{job_id}.sig"]


def test_start_job_rejects_too_long_prefix(api: ApiEnv) -> None:
    name = unique("longprefix")
    put_profile(api, name)
    signer = api.client()
    with pytest.raises(ClientError) as info:
        signer.start_signing_job(
            source={
                "s3": {
                    "bucketName": "firmware-src",
                    "key": "releases/fw.bin",
                    "version": api.source_version,
                }
            },
            destination={"s3": {"bucketName": "firmware-signed", "prefix": "p" * 980}},
            profileName=name,
            clientRequestToken=uuid.uuid4().hex,
        )
    assert error_code(info) == "ValidationException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = info.value.response["Error"]["Message"]
    assert "destination.s3.prefix is 980 bytes" in message
    assert "over the limit of 1024" in message
    assert "at most 976 bytes" in message
    jobs = signer.list_signing_jobs()["jobs"]
    assert name not in {job["profileName"] for job in jobs}


def test_start_job_rejects_long_source_name(api: ApiEnv) -> None:
    long_key = "k" * 300
    version = api.workspace.put_object("firmware-src", long_key, FIRMWARE)
    name = unique("longname")
    put_profile(api, name)
    with pytest.raises(ClientError) as info:
        api.client().start_signing_job(
            source={"s3": {"bucketName": "firmware-src", "key": long_key, "version": version}},
            destination={"s3": {"bucketName": "firmware-signed"}},
            profileName=name,
            clientRequestToken=uuid.uuid4().hex,
        )
    assert error_code(info) == "ValidationException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = info.value.response["Error"]["Message"]
    assert "name of 300 bytes" in message
    assert "over the limit of 200" in message


def _retoken(token: str, position: Any) -> str:
    """Return `token` with its position replaced, keeping its filter digest."""
    document = json.loads(base64.urlsafe_b64decode(token))
    document["p"] = position
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


@pytest.mark.parametrize(
    "position",
    [
        {"t": "2026-12-04T17:39:28", "id": "x"},
        {"t": 1764869968, "id": "x"},
        {"t": "2026-12-04T17:39:28+00:00", "id": 5},
        {"t": "2026-12-04T17:39:28+00:00", "id": None},
        {"t": ["2026"], "id": "x"},
        {"t": "yesterday", "id": "x"},
        {"id": "x"},
    ],
    ids=["naive", "number", "id-number", "id-null", "list", "text", "missing"],
)
def test_list_jobs_rejects_tampered_token(api: ApiEnv, position: dict[str, Any]) -> None:
    name = unique("token")
    put_profile(api, name)
    start_job(api, name)
    start_job(api, name)
    signer = api.client()
    token = signer.list_signing_jobs(maxResults=1)["nextToken"]
    with pytest.raises(ClientError) as info:
        signer.list_signing_jobs(maxResults=1, nextToken=_retoken(token, position))
    assert error_code(info) == "ValidationException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = info.value.response["Error"]["Message"]
    assert message == "invalid nextToken; pass the value a previous page returned"


def _new_principal(api: ApiEnv, prefix: str) -> tuple[str, dict[str, str]]:
    name = unique(prefix)
    return name, api.workspace.principal(name)


def _grant(api: ApiEnv, profile: str, principal: str, action: str) -> None:
    api.client().add_profile_permission(
        profileName=profile,
        action=action,
        principal=principal,
        statementId=unique("stmt"),
    )


def _all_profile_names(signer: Any) -> set[str]:
    names: set[str] = set()
    for page in signer.get_paginator("list_signing_profiles").paginate():
        names.update(profile["profileName"] for profile in page["profiles"])
    return names


def _all_job_ids(signer: Any) -> set[str]:
    job_ids: set[str] = set()
    for page in signer.get_paginator("list_signing_jobs").paginate():
        job_ids.update(job["jobId"] for job in page["jobs"])
    return job_ids


def test_list_profiles_only_granted_to_non_admin(api: ApiEnv) -> None:
    granted, hidden = unique("granted"), unique("hidden")
    put_profile(api, granted)
    put_profile(api, hidden)
    name, credentials = _new_principal(api, "viewer")
    _grant(api, granted, name, "signer:StartSigningJob")
    viewer = api.client(credentials)
    visible = _all_profile_names(viewer)
    assert granted in visible
    assert hidden not in visible
    admin_visible = _all_profile_names(api.client())
    assert granted in admin_visible
    assert hidden in admin_visible
    with pytest.raises(ClientError) as info:
        viewer.get_signing_profile(profileName=hidden)
    assert error_code(info) == "AccessDeniedException"


def test_token_scoped_per_principal(api: ApiEnv) -> None:
    profile = unique("tokens")
    put_profile(api, profile)
    name_a, principal_a = _new_principal(api, "alpha")
    name_b, principal_b = _new_principal(api, "beta")
    _grant(api, profile, name_a, "signer:StartSigningJob")
    _grant(api, profile, name_b, "signer:StartSigningJob")
    token = uuid.uuid4().hex

    job_a = start_job(api, profile, token, credentials=principal_a)
    job_b = start_job(api, profile, token, credentials=principal_b)
    assert job_b != job_a
    assert start_job(api, profile, token, credentials=principal_b) == job_b
    job = api.client().describe_signing_job(jobId=job_b)
    assert job["requestedBy"] == f"arn:aws:iam::123456789012:user/{name_b}"

    # The same token with other parameters conflicts with B's own job only.
    with pytest.raises(ClientError) as info:
        api.client(principal_b).start_signing_job(
            source={
                "s3": {
                    "bucketName": "firmware-src",
                    "key": "releases/fw.bin",
                    "version": api.source_version,
                }
            },
            destination={"s3": {"bucketName": "firmware-signed", "prefix": "other/"}},
            profileName=profile,
            clientRequestToken=token,
        )
    assert error_code(info) == "ConflictException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    message = info.value.response["Error"]["Message"]
    assert job_b in message
    assert job_a not in message


def test_jobs_visible_only_to_requester(api: ApiEnv) -> None:
    profile = unique("visible")
    put_profile(api, profile)
    name_a, principal_a = _new_principal(api, "owner")
    name_b, principal_b = _new_principal(api, "other")
    _grant(api, profile, name_a, "signer:StartSigningJob")
    _grant(api, profile, name_b, "signer:StartSigningJob")
    job_a = start_job(api, profile, credentials=principal_a)
    job_b = start_job(api, profile, credentials=principal_b)
    owner = api.client(principal_a)
    assert owner.describe_signing_job(jobId=job_a)["jobId"] == job_a
    with pytest.raises(ClientError) as info:
        owner.describe_signing_job(jobId=job_b)
    assert error_code(info) == "ResourceNotFoundException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert info.value.response["Error"]["Message"] == f"signing job {job_b!r} not found"
    assert _all_job_ids(owner) == {job_a}
    other_arn = f"arn:aws:iam::123456789012:user/{name_b}"
    assert owner.list_signing_jobs(requestedBy=other_arn)["jobs"] == []
    admin = api.client()
    assert admin.describe_signing_job(jobId=job_b)["jobId"] == job_b
    assert {job_a, job_b} <= _all_job_ids(admin)


def test_put_profile_active_name_taken(api: ApiEnv) -> None:
    name = unique("active")
    put_profile(api, name)
    with pytest.raises(ClientError) as info:
        put_profile(api, name)
    assert error_code(info) == "ValidationException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = info.value.response["Error"]["Message"]
    assert message == f"signing profile {name!r} already exists and is Active; choose another name"
    assert "cancellation" not in message


def test_add_permission_unknown_version(api: ApiEnv) -> None:
    name = unique("permver")
    put_profile(api, name)
    signer = api.client()
    with pytest.raises(ClientError) as info:
        signer.add_profile_permission(
            profileName=name,
            profileVersion="ZZZZZZZZZZ",
            action="signer:StartSigningJob",
            principal="alice",
            statementId="unknown-version",
        )
    assert error_code(info) == "ResourceNotFoundException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    message = info.value.response["Error"]["Message"]
    assert message.startswith(f"version 'ZZZZZZZZZZ' of signing profile {name!r} not found")
    assert signer.list_profile_permissions(profileName=name).get("permissions", []) == []
    version = signer.get_signing_profile(profileName=name)["profileVersion"]
    signer.add_profile_permission(
        profileName=name,
        profileVersion=version,
        action="signer:StartSigningJob",
        principal="alice",
        statementId="current-version",
    )
    permissions = signer.list_profile_permissions(profileName=name)["permissions"]
    assert [p["statementId"] for p in permissions] == ["current-version"]

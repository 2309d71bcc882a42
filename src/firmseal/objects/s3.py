"""Objects in an S3-compatible store with bucket versioning, through boto3."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from firmseal.errors import BackendError, NotFoundError
from firmseal.objects.local import ObjectVersion, check_bucket, check_key

_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "404", "NotFound"}
_INVALID_VERSION = {"InvalidArgument", "400"}


def _failure(error: Exception, bucket: str, key: str, version_id: str | None) -> Exception:
    where = f"s3://{bucket}/{key}" + (f" version {version_id}" if version_id else "")
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND or code in _INVALID_VERSION:
            return NotFoundError(f"object {where} not found")
        return BackendError(f"S3 request for {where} failed: {code}")
    return BackendError(f"S3 request for {where} failed: {error}")


class S3Objects:
    """An S3-compatible endpoint behind the ObjectStore interface; buckets must be versioned."""

    def __init__(
        self, *, endpoint_url: str, access_key_id: str, secret_access_key: str, region: str
    ) -> None:
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )

    def put_stream(self, bucket: str, key: str, stream: BinaryIO) -> ObjectVersion:
        check_bucket(bucket)
        check_key(key)
        # put_object needs a seekable body of known length; spool large streams to disk.
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            while chunk := stream.read(1024 * 1024):
                spool.write(chunk)
            size = spool.tell()
            spool.seek(0)
            try:
                response = self._client.put_object(Bucket=bucket, Key=key, Body=spool)
            except (ClientError, BotoCoreError) as exc:
                raise _failure(exc, bucket, key, None) from exc
        version_id = response.get("VersionId")
        if not version_id or version_id == "null":
            raise BackendError(
                f"bucket {bucket!r} returned no version id; enable versioning on it"
            )
        return ObjectVersion(bucket, key, str(version_id), size)

    def head(self, bucket: str, key: str, version_id: str) -> ObjectVersion:
        check_bucket(bucket)
        check_key(key)
        try:
            response = self._client.head_object(Bucket=bucket, Key=key, VersionId=version_id)
        except (ClientError, BotoCoreError) as exc:
            raise _failure(exc, bucket, key, version_id) from exc
        return ObjectVersion(bucket, key, version_id, int(response["ContentLength"]))

    def fetch(self, bucket: str, key: str, version_id: str | None, directory: Path) -> Path:
        check_bucket(bucket)
        check_key(key)
        arguments = {"Bucket": bucket, "Key": key}
        if version_id is not None:
            arguments["VersionId"] = version_id
        target = directory / "object"
        try:
            body = self._client.get_object(**arguments)["Body"]
            with target.open("wb") as out:
                for chunk in body.iter_chunks(1024 * 1024):
                    out.write(chunk)
        except (ClientError, BotoCoreError) as exc:
            raise _failure(exc, bucket, key, version_id) from exc
        return target

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectVersion]:
        check_bucket(bucket)
        paginator = self._client.get_paginator("list_object_versions")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for entry in page.get("Versions", []):
                    if entry.get("IsLatest"):
                        yield ObjectVersion(
                            bucket, entry["Key"], str(entry["VersionId"]), int(entry["Size"])
                        )
        except (ClientError, BotoCoreError) as exc:
            raise _failure(exc, bucket, prefix, None) from exc

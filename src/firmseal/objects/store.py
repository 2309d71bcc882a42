"""The object store interface the signing service uses, and how one is chosen.

The local versioned folder is the default. Setting FIRMSEAL_S3_ENDPOINT_URL selects any
S3-compatible endpoint instead, through boto3, with FIRMSEAL_S3_ACCESS_KEY_ID,
FIRMSEAL_S3_SECRET_ACCESS_KEY and FIRMSEAL_S3_REGION (default us-east-1).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, Protocol

from firmseal.objects.local import LocalObjectStore, ObjectVersion, head_local


class ObjectStore(Protocol):
    def put_stream(self, bucket: str, key: str, stream: BinaryIO) -> ObjectVersion: ...

    def head(self, bucket: str, key: str, version_id: str) -> ObjectVersion: ...

    def fetch(self, bucket: str, key: str, version_id: str | None, directory: Path) -> Path:
        """Return a local file with the object's bytes, downloading into `directory` if needed."""
        ...

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectVersion]: ...


class LocalObjects:
    """The local versioned folder behind the ObjectStore interface."""

    def __init__(self, root: Path) -> None:
        self.store = LocalObjectStore(root)

    def put_stream(self, bucket: str, key: str, stream: BinaryIO) -> ObjectVersion:
        return self.store.put_stream(bucket, key, stream)

    def head(self, bucket: str, key: str, version_id: str) -> ObjectVersion:
        return head_local(self.store, bucket, key, version_id)

    def fetch(self, bucket: str, key: str, version_id: str | None, directory: Path) -> Path:
        return self.store.path_of(bucket, key, version_id)

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectVersion]:
        return self.store.list_objects(bucket, prefix)


def open_object_store(objects_dir: Path, environ: Mapping[str, str] | None = None) -> ObjectStore:
    """Return the S3 store when FIRMSEAL_S3_ENDPOINT_URL is set, else the local folder."""
    env = os.environ if environ is None else environ
    endpoint = env.get("FIRMSEAL_S3_ENDPOINT_URL")
    if not endpoint:
        return LocalObjects(objects_dir)
    from firmseal.objects.s3 import S3Objects

    return S3Objects(
        endpoint_url=endpoint,
        access_key_id=env.get("FIRMSEAL_S3_ACCESS_KEY_ID", ""),
        secret_access_key=env.get("FIRMSEAL_S3_SECRET_ACCESS_KEY", ""),
        region=env.get("FIRMSEAL_S3_REGION", "us-east-1"),
    )

"""Tables of the workspace database. Private key material is never stored here."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and read back timezone-aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UtcDateTime()}


class KeyRecord(Base):
    """A signing key: where it lives (backend and URI) and what firmseal allows with it."""

    __tablename__ = "keys"

    key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), unique=True)
    backend: Mapped[str] = mapped_column(String(16))
    uri: Mapped[str] = mapped_column(String(512), unique=True)
    spec: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    public_key_der: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]


class CertificateRecord(Base):
    """A certificate firmseal issued or imported, with the chain up to its root."""

    __tablename__ = "certificates"

    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    arn: Mapped[str] = mapped_column(String(256), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str | None] = mapped_column(ForeignKey("keys.key_id"))
    issuer_certificate_id: Mapped[str | None] = mapped_column(
        ForeignKey("certificates.certificate_id")
    )
    certificate_pem: Mapped[str] = mapped_column(Text)
    chain_pem: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(String(1024))
    serial_number: Mapped[str] = mapped_column(String(64))
    not_before: Mapped[dt.datetime]
    not_after: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime]


class ProfileRecord(Base):
    """A signing profile name. Names are never reused, even after cancellation."""

    __tablename__ = "signing_profiles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    current_version: Mapped[str] = mapped_column(String(10))
    platform_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    canceled_at: Mapped[dt.datetime | None]
    # Changes with every added or removed permission statement; None while there are none.
    policy_revision_id: Mapped[str | None] = mapped_column(String(36))


class ProfileVersionRecord(Base):
    """One version of a profile's signing material and parameters."""

    __tablename__ = "signing_profile_versions"

    profile_name: Mapped[str] = mapped_column(
        ForeignKey("signing_profiles.name"), primary_key=True
    )
    version: Mapped[str] = mapped_column(String(10), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("keys.key_id"))
    certificate_id: Mapped[str | None] = mapped_column(ForeignKey("certificates.certificate_id"))
    validity_value: Mapped[int] = mapped_column(Integer)
    validity_type: Mapped[str] = mapped_column(String(8))
    parameters_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(256))
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    revocation_effective_from: Mapped[dt.datetime | None]

    __table_args__ = (UniqueConstraint("version", name="uq_profile_version"),)


class JobRecord(Base):
    """One request to sign one source object, and its outcome."""

    __tablename__ = "signing_jobs"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    profile_name: Mapped[str] = mapped_column(ForeignKey("signing_profiles.name"))
    profile_version: Mapped[str] = mapped_column(String(10))
    platform_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str] = mapped_column(Text, default="")
    source_name: Mapped[str] = mapped_column(String(1024))
    source_bucket: Mapped[str] = mapped_column(String(64))
    source_key: Mapped[str] = mapped_column(String(1024))
    source_version: Mapped[str | None] = mapped_column(String(64))
    source_size: Mapped[int | None] = mapped_column(BigInteger)
    image_digest: Mapped[str | None] = mapped_column(String(128))
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    artifacts_json: Mapped[str] = mapped_column(Text, default="[]")
    parameters_json: Mapped[str] = mapped_column(Text, default="{}")
    requested_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    completed_at: Mapped[dt.datetime | None]
    signature_expires_at: Mapped[dt.datetime | None]
    # Set for jobs started through the API: StartSigningJob is idempotent on the token per
    # requesting principal, and `request_hash` distinguishes a retry from a different request
    # under the same token.
    client_request_token: Mapped[str | None] = mapped_column(String(64))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    destination_bucket: Mapped[str | None] = mapped_column(String(64))
    destination_prefix: Mapped[str | None] = mapped_column(String(1024))
    signed_object_key: Mapped[str | None] = mapped_column(String(1024))
    payload_format: Mapped[str | None] = mapped_column(String(128))
    # The signing worker that has leased the job, until `lease_expires_at`.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(256))
    revocation_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint(
            "requested_by", "client_request_token", name="uq_signing_jobs_requester_token"
        ),
    )


class PrincipalRecord(Base):
    """An API caller: a SigV4 access key id and its secret, sealed under the master key."""

    __tablename__ = "principals"

    principal_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    access_key_id: Mapped[str] = mapped_column(String(20), unique=True)
    sealed_secret: Mapped[str] = mapped_column(Text)
    admin: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime]


class PermissionRecord(Base):
    """A permission statement on a signing profile: who may do which action."""

    __tablename__ = "profile_permissions"

    profile_name: Mapped[str] = mapped_column(
        ForeignKey("signing_profiles.name"), primary_key=True
    )
    statement_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    action: Mapped[str] = mapped_column(String(64))
    principal: Mapped[str] = mapped_column(String(2048))
    profile_version: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[dt.datetime]


class TagRecord(Base):
    """One tag on a resource, addressed by the resource's ARN."""

    __tablename__ = "resource_tags"

    resource_arn: Mapped[str] = mapped_column(String(512), primary_key=True)
    tag_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    tag_value: Mapped[str] = mapped_column(String(256))

"""API principals, permission statements, tags, revocation and the signing job queue.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_JOB_COLUMNS: list[tuple[str, Any]] = [
    ("client_request_token", sa.String(64)),
    ("request_hash", sa.String(64)),
    ("destination_bucket", sa.String(64)),
    ("destination_prefix", sa.String(1024)),
    ("signed_object_key", sa.String(1024)),
    ("payload_format", sa.String(128)),
    ("lease_owner", sa.String(64)),
    ("lease_expires_at", sa.DateTime(timezone=True)),
    ("revoked_at", sa.DateTime(timezone=True)),
    ("revoked_by", sa.String(256)),
    ("revocation_reason", sa.Text),
]
_VERSION_COLUMNS: list[tuple[str, Any]] = [
    ("revoked_at", sa.DateTime(timezone=True)),
    ("revoked_by", sa.String(256)),
    ("revocation_reason", sa.Text),
    ("revocation_effective_from", sa.DateTime(timezone=True)),
]


def upgrade() -> None:
    with op.batch_alter_table("signing_profiles") as batch:
        batch.add_column(sa.Column("policy_revision_id", sa.String(36)))
    with op.batch_alter_table("signing_profile_versions") as batch:
        for name, column_type in _VERSION_COLUMNS:
            batch.add_column(sa.Column(name, column_type))
    with op.batch_alter_table("signing_jobs") as batch:
        for name, column_type in _JOB_COLUMNS:
            batch.add_column(sa.Column(name, column_type))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.create_unique_constraint(
            "uq_signing_jobs_client_request_token", ["client_request_token"]
        )
    op.create_table(
        "principals",
        sa.Column("principal_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("access_key_id", sa.String(20), nullable=False, unique=True),
        sa.Column("sealed_secret", sa.Text, nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "profile_permissions",
        sa.Column(
            "profile_name",
            sa.String(64),
            sa.ForeignKey("signing_profiles.name"),
            primary_key=True,
        ),
        sa.Column("statement_id", sa.String(128), primary_key=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(2048), nullable=False),
        sa.Column("profile_version", sa.String(10)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "resource_tags",
        sa.Column("resource_arn", sa.String(512), primary_key=True),
        sa.Column("tag_key", sa.String(128), primary_key=True),
        sa.Column("tag_value", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("resource_tags")
    op.drop_table("profile_permissions")
    op.drop_table("principals")
    with op.batch_alter_table("signing_jobs") as batch:
        batch.drop_constraint("uq_signing_jobs_client_request_token", type_="unique")
        batch.drop_column("attempts")
        for name, _ in reversed(_JOB_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("signing_profile_versions") as batch:
        for name, _ in reversed(_VERSION_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("signing_profiles") as batch:
        batch.drop_column("policy_revision_id")

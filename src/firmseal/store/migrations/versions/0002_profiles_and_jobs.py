"""Signing profiles, their versions, and signing jobs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_profiles",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current_version", sa.String(10), nullable=False),
        sa.Column("platform_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("canceled_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "signing_profile_versions",
        sa.Column(
            "profile_name",
            sa.String(64),
            sa.ForeignKey("signing_profiles.name"),
            primary_key=True,
        ),
        sa.Column("version", sa.String(10), primary_key=True),
        sa.Column("key_id", sa.String(36), sa.ForeignKey("keys.key_id"), nullable=False),
        sa.Column("certificate_id", sa.String(36), sa.ForeignKey("certificates.certificate_id")),
        sa.Column("validity_value", sa.Integer, nullable=False),
        sa.Column("validity_type", sa.String(8), nullable=False),
        sa.Column("parameters_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("version", name="uq_profile_version"),
    )
    op.create_table(
        "signing_jobs",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column(
            "profile_name", sa.String(64), sa.ForeignKey("signing_profiles.name"), nullable=False
        ),
        sa.Column("profile_version", sa.String(10), nullable=False),
        sa.Column("platform_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False),
        sa.Column("source_name", sa.String(1024), nullable=False),
        sa.Column("source_bucket", sa.String(64), nullable=False),
        sa.Column("source_key", sa.String(1024), nullable=False),
        sa.Column("source_version", sa.String(64)),
        sa.Column("source_size", sa.BigInteger),
        sa.Column("image_digest", sa.String(128)),
        sa.Column("signature", sa.LargeBinary),
        sa.Column("artifacts_json", sa.Text, nullable=False),
        sa.Column("parameters_json", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("signature_expires_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_signing_jobs_created_at", "signing_jobs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_signing_jobs_created_at", table_name="signing_jobs")
    op.drop_table("signing_jobs")
    op.drop_table("signing_profile_versions")
    op.drop_table("signing_profiles")

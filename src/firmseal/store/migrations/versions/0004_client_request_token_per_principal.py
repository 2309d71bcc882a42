"""Scope StartSigningJob's clientRequestToken to the principal that sends it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signing_jobs") as batch:
        batch.drop_constraint("uq_signing_jobs_client_request_token", type_="unique")
        batch.create_unique_constraint(
            "uq_signing_jobs_requester_token", ["requested_by", "client_request_token"]
        )


def downgrade() -> None:
    # NOTE: fails when two principals have used the same token, because 0003 allows each
    # token once across all principals.
    with op.batch_alter_table("signing_jobs") as batch:
        batch.drop_constraint("uq_signing_jobs_requester_token", type_="unique")
        batch.create_unique_constraint(
            "uq_signing_jobs_client_request_token", ["client_request_token"]
        )

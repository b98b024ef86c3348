"""Reports and API keys.

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "intake"


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("report_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("client_id", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("policy_area", sa.Text, nullable=False),
        sa.Column("dsa_category", sa.Text, nullable=False),
        sa.Column("subject_type", sa.Text, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="received"),
        sa.Column("payload", JSONB, nullable=False),
        sa.UniqueConstraint(
            "client_id", "idempotency_key", name="uq_reports_client_idempotency_key"
        ),
        schema=S,
    )
    op.create_index("ix_reports_subject", "reports", ["subject_id"], schema=S)
    op.create_index("ix_reports_received_at", "reports", ["received_at"], schema=S)
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("client_id", sa.Text, nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("scopes", sa.ARRAY(sa.Text), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("api_keys", schema=S)
    op.drop_table("reports", schema=S)

"""Processed events and routings.

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "router"


def upgrade() -> None:
    op.create_table(
        "processed_events",
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=S,
    )
    op.create_table(
        "routings",
        sa.Column("report_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("policy_area", sa.Text, nullable=False),
        sa.Column("tier", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("queue", sa.Text),
        sa.Column("priority", sa.Integer),
        sa.Column("deadline", sa.DateTime(timezone=True)),
        sa.Column("policy_version", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("outcome IN ('action', 'dismiss', 'review')", name="ck_routings_outcome"),
        schema=S,
    )
    op.create_index("ix_routings_queue_deadline", "routings", ["queue", "deadline"], schema=S)


def downgrade() -> None:
    op.drop_table("routings", schema=S)
    op.drop_table("processed_events", schema=S)

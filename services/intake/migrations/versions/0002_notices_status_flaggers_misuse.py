"""Canonical notice columns, report progress, trusted flaggers, misuse standing.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "intake"


def upgrade() -> None:
    for column in (
        sa.Column("reporter_id", sa.Text),
        sa.Column("reason_code", sa.Text),
        sa.Column("notifier_name", sa.Text, comment="personal data: never published"),
        sa.Column("notifier_email", sa.Text, comment="personal data: never published"),
        sa.Column("anonymous", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("trusted_flagger_id", sa.Text),
        sa.Column(
            "standing", sa.Text, comment="misuse standing at receipt: warned, held or exempt"
        ),
        sa.Column("held_until", sa.DateTime(timezone=True)),
    ):
        op.add_column("reports", column, schema=S)
    op.create_index(
        "ix_reports_reporter", "reports", ["client_id", "reporter_id", "received_at"], schema=S
    )
    op.create_table(
        "report_progress",
        sa.Column("report_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("status_rank", sa.SmallInteger, nullable=False),
        sa.Column("queue", sa.Text),
        sa.Column("case_id", UUID(as_uuid=True)),
        sa.Column("outcome", JSONB),
        sa.Column("manifestly_unfounded", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_table(
        "trusted_flaggers",
        sa.Column("flagger_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("client_id", sa.Text, comment="notices from this client are the flagger's"),
        sa.Column("key_id", sa.Text, comment="or only those sent with this API key"),
        sa.Column("policy_areas", sa.ARRAY(sa.Text), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("removed_at", sa.DateTime(timezone=True)),
        schema=S,
    )
    op.create_table(
        "reporter_standing",
        sa.Column("client_id", sa.Text, primary_key=True),
        sa.Column("reporter_id", sa.Text, primary_key=True),
        sa.Column("notices", sa.Integer, nullable=False, server_default="0"),
        sa.Column("unfounded", sa.Integer, nullable=False, server_default="0"),
        sa.Column("warned_at", sa.DateTime(timezone=True)),
        sa.Column("held_until", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_table(
        "misuse_events",
        sa.Column("event_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("client_id", sa.Text, nullable=False),
        sa.Column("reporter_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False, comment="warning or suspension"),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True)),
        sa.Column("notices", sa.Integer, nullable=False),
        sa.Column("unfounded", sa.Integer, nullable=False),
        schema=S,
    )
    op.create_index(
        "ix_misuse_events_client_at", "misuse_events", ["client_id", "at"], schema=S
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=S,
    )


def downgrade() -> None:
    for table in (
        "processed_events",
        "misuse_events",
        "reporter_standing",
        "trusted_flaggers",
        "report_progress",
    ):
        op.drop_table(table, schema=S)
    op.drop_index("ix_reports_reporter", table_name="reports", schema=S)
    for name in (
        "held_until",
        "standing",
        "trusted_flagger_id",
        "anonymous",
        "notifier_email",
        "notifier_name",
        "reason_code",
        "reporter_id",
    ):
        op.drop_column("reports", name, schema=S)

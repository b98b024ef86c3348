"""Hash banks, report records and outcomes for context, API keys.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "classifier"


def _now() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    op.create_table(
        "hash_banks",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("policy_area", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        _now(),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=S,
    )
    op.create_table(
        "bank_hashes",
        sa.Column("hash_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("bank_name", sa.Text, sa.ForeignKey(f"{S}.hash_banks.name"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column(
            "added_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("bank_name", "kind", "value", name="uq_bank_hashes_value"),
        schema=S,
    )
    op.create_table(
        "report_records",
        sa.Column("report_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("reporter_id", sa.Text),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("owner_account_id", sa.Text),
        sa.Column("policy_area", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        schema=S,
    )
    op.create_index(
        "ix_report_records_subject_received",
        "report_records",
        ["subject_id", "received_at"],
        schema=S,
    )
    op.create_index("ix_report_records_reporter", "report_records", ["reporter_id"], schema=S)
    op.create_index("ix_report_records_received", "report_records", ["received_at"], schema=S)
    op.create_table(
        "report_outcomes",
        sa.Column("report_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("decision_id", UUID(as_uuid=True), nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("policy_area", sa.Text, nullable=False),
        sa.Column("action", sa.Text),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_table(
        "reporter_stats",
        sa.Column("reporter_id", sa.Text, primary_key=True),
        sa.Column("notices", sa.Integer, nullable=False),
        sa.Column("actioned", sa.Integer, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=S,
    )
    op.create_table(
        "subject_actions",
        sa.Column("decision_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("owner_account_id", sa.Text),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("policy_area", sa.Text, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_index("ix_subject_actions_subject", "subject_actions", ["subject_id"], schema=S)
    op.create_index("ix_subject_actions_owner", "subject_actions", ["owner_account_id"], schema=S)
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("client_id", sa.Text, nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("scopes", sa.ARRAY(sa.Text), nullable=False),
        _now(),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        schema=S,
    )


def downgrade() -> None:
    for table in (
        "api_keys",
        "subject_actions",
        "reporter_stats",
        "report_outcomes",
        "report_records",
        "bank_hashes",
        "hash_banks",
    ):
        op.drop_table(table, schema=S)

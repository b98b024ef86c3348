"""Cases, case reports, review activity, shadow outcomes, QA reviews, reviewers' API keys.

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "router"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("routings", sa.Column("case_id", UUID(as_uuid=True)), schema=S)
    op.add_column("routings", sa.Column("reason", sa.Text), schema=S)
    op.add_column("routings", sa.Column("payload", JSONB), schema=S)
    op.create_table(
        "cases",
        sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("subject", JSONB, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("policy_area", sa.Text, nullable=False),
        sa.Column("tier", sa.Text, nullable=False),
        sa.Column("queue", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("deadline", TS, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("policy_version", sa.Text, nullable=False),
        sa.Column("first_report_id", UUID(as_uuid=True), nullable=False),
        sa.Column("report_count", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("lease_holder", sa.Text),
        sa.Column("lease_expires_at", TS),
        sa.Column("excluded_reviewers", sa.ARRAY(sa.Text), nullable=False),
        sa.Column("proposal", JSONB),
        sa.Column("proposed_by", sa.Text),
        sa.Column("first_decided_at", TS),
        sa.Column("decided_at", TS),
        sa.Column("decided_by", sa.Text),
        sa.Column("confirmed_by", sa.Text),
        sa.Column("outcome", sa.Text),
        sa.Column("action", sa.Text),
        sa.Column("decision_id", UUID(as_uuid=True)),
        sa.Column("appeal", JSONB),
        sa.Column("qa_of", JSONB),
        sa.CheckConstraint("kind IN ('report', 'appeal', 'qa')", name="ck_cases_kind"),
        sa.CheckConstraint(
            "status IN ('open', 'awaiting_confirmation', 'decided')", name="ck_cases_status"
        ),
        schema=S,
    )
    # One open case per subject and policy area: later reports link to it.
    op.create_index(
        "uq_cases_open_subject_area",
        "cases",
        ["subject_id", "policy_area"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("kind = 'report' AND status <> 'decided'"),
    )
    # The claim order: earliest deadline first, ties by priority.
    op.create_index(
        "ix_cases_queue_order",
        "cases",
        ["queue", "deadline", sa.text("priority DESC")],
        schema=S,
        postgresql_where=sa.text("status <> 'decided'"),
    )
    op.create_table(
        "case_reports",
        sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("report_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("linked_at", TS, nullable=False),
        schema=S,
    )
    op.create_index("ix_case_reports_report", "case_reports", ["report_id"], schema=S)
    op.create_table(
        "case_activity",
        sa.Column("activity_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("reviewer_id", sa.Text, nullable=False),
        sa.Column("act", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        schema=S,
    )
    op.create_index("ix_case_activity_case", "case_activity", ["case_id", "at"], schema=S)
    op.create_table(
        "shadow_outcomes",
        sa.Column("report_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("shadow_version", sa.Text, primary_key=True),
        sa.Column("live_version", sa.Text, nullable=False),
        sa.Column("policy_area", sa.Text, nullable=False),
        sa.Column("live_outcome", sa.Text, nullable=False),
        sa.Column("shadow_outcome", sa.Text, nullable=False),
        sa.Column("live_queue", sa.Text),
        sa.Column("shadow_queue", sa.Text),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        schema=S,
    )
    op.create_table(
        "qa_reviews",
        sa.Column("qa_case_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("original_decision_id", UUID(as_uuid=True), nullable=False),
        sa.Column("decided_by", sa.Text, nullable=False),
        sa.Column("original_actor", sa.Text, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("policy_version", sa.Text, nullable=False),
        sa.Column("model_versions", JSONB, nullable=False),
        sa.Column("original_outcome", sa.Text, nullable=False),
        sa.Column("original_action", sa.Text),
        sa.Column("qa_reviewer", sa.Text, nullable=False),
        sa.Column("qa_outcome", sa.Text, nullable=False),
        sa.Column("qa_action", sa.Text),
        sa.Column("agree", sa.Boolean, nullable=False),
        sa.Column("reviewed_at", TS, nullable=False),
        schema=S,
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("client_id", sa.Text, nullable=False, comment="principal: reviewer id"),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("scopes", sa.ARRAY(sa.Text), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", TS),
        schema=S,
    )


def downgrade() -> None:
    for table in ("api_keys", "qa_reviews", "shadow_outcomes", "case_activity", "case_reports"):
        op.drop_table(table, schema=S)
    op.drop_table("cases", schema=S)
    for column in ("payload", "reason", "case_id"):
        op.drop_column("routings", column, schema=S)

"""Decisions, actions and the append-only, hash-chained audit log.

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "enforcement"


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
        "decisions",
        sa.Column("decision_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("report_id", UUID(as_uuid=True), nullable=False),
        sa.Column("subject_type", sa.Text, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("owner_account_id", sa.Text),
        sa.Column("policy_area", sa.Text, nullable=False),
        sa.Column("dsa_category", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("action", sa.Text),
        sa.Column("decided_by", sa.Text, nullable=False),
        sa.Column("actor_kind", sa.Text, nullable=False),
        sa.Column("actor_id", sa.Text, nullable=False),
        sa.Column("versions", JSONB, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("outcome IN ('action', 'no_action')", name="ck_decisions_outcome"),
        schema=S,
    )
    op.create_index("ix_decisions_subject", "decisions", ["subject_id"], schema=S)
    op.create_index("ix_decisions_report", "decisions", ["report_id"], schema=S)
    op.create_table(
        "actions",
        sa.Column("action_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("decision_id", UUID(as_uuid=True), nullable=False),
        sa.Column("report_id", UUID(as_uuid=True), nullable=False),
        sa.Column("subject_type", sa.Text, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("policy_area", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("decision_id", "action", name="uq_actions_decision_action"),
        schema=S,
    )
    op.create_index("ix_actions_subject", "actions", ["subject_id"], schema=S)
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.Text, nullable=False),
        sa.Column("actor_id", sa.Text, nullable=False),
        sa.Column("act", sa.Text, nullable=False),
        sa.Column("subject_id", sa.Text),
        sa.Column("report_id", UUID(as_uuid=True)),
        sa.Column("decision_id", UUID(as_uuid=True)),
        sa.Column("action_id", UUID(as_uuid=True)),
        sa.Column("details", JSONB, nullable=False),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        schema=S,
    )
    op.create_index("ix_audit_subject_seq", "audit_log", ["subject_id", "seq"], schema=S)
    op.create_index("ix_audit_report", "audit_log", ["report_id"], schema=S)
    # Append-only, enforced by the database itself: no UPDATE, DELETE or TRUNCATE, whoever asks.
    op.execute(
        f"""
        CREATE FUNCTION {S}.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$
        """
    )
    op.execute(
        f"CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON {S}.audit_log "
        f"FOR EACH ROW EXECUTE FUNCTION {S}.audit_log_append_only()"
    )
    op.execute(
        f"CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON {S}.audit_log "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {S}.audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.audit_log")
    op.execute(f"DROP FUNCTION {S}.audit_log_append_only()")
    op.drop_table("actions", schema=S)
    op.drop_table("decisions", schema=S)
    op.drop_table("processed_events", schema=S)

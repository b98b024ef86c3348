"""Action ledger, strikes, preservation holds, legal reports, statements of reasons, appeals,
audit checkpoints and API keys.

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "enforcement"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("client_id", sa.Text, nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("scopes", ARRAY(sa.Text), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", TS),
        schema=S,
    )
    for name, type_ in (
        ("content_type", sa.Text),
        ("case_id", UUID(as_uuid=True)),
        ("report_ids", ARRAY(UUID(as_uuid=True))),
        ("appeal_id", UUID(as_uuid=True)),
        ("communicated_at", TS),
    ):
        op.add_column("decisions", sa.Column(name, type_), schema=S)
    for name, type_ in (
        ("content_type", sa.Text),
        ("owner_account_id", sa.Text),
        ("dsa_category", sa.Text),
        ("decided_by", sa.Text),
        ("reason", sa.Text),
        ("correlation_id", UUID(as_uuid=True)),
        ("ends_at", TS),
        ("territorial_scope", ARRAY(sa.Text)),
        ("next_attempt_at", TS),
        ("applied_at", TS),
        ("failed_at", TS),
        ("reversed_at", TS),
        ("detail", sa.Text),
    ):
        op.add_column("actions", sa.Column(name, type_), schema=S)
    op.add_column(
        "actions", sa.Column("attempts", sa.Integer, nullable=False, server_default="1"), schema=S
    )
    op.create_check_constraint(
        "ck_actions_status",
        "actions",
        "status IN ('requested', 'issued', 'applied', 'failed', 'reversed')",
        schema=S,
    )
    # The retry sweep reads only actions still waiting for their confirmation.
    op.execute(
        f"CREATE INDEX ix_actions_awaiting ON {S}.actions (next_attempt_at) "
        "WHERE status = 'issued'"
    )
    op.create_table(
        "strikes",
        sa.Column("strike_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("decision_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("policy_area", sa.Text, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("reversed_at", TS),
        schema=S,
    )
    op.create_index("ix_strikes_account", "strikes", ["account_id", "expires_at"], schema=S)
    op.create_table(
        "evidence",
        sa.Column("evidence_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("decision_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("policy_area", sa.Text, nullable=False),
        sa.Column("refs", ARRAY(sa.Text), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("retain_until", TS, nullable=False),
        sa.Column("hold_until", TS),
        sa.Column("hold_reason", sa.Text),
        schema=S,
    )
    # A preservation hold is a legal duty: the database refuses to delete or shorten it,
    # whichever program asks.
    op.execute(
        f"""
        CREATE FUNCTION {S}.evidence_hold_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.hold_until IS NOT NULL AND OLD.hold_until > now() THEN
                IF TG_OP = 'DELETE' THEN
                    RAISE EXCEPTION 'evidence % is under a preservation hold until %',
                        OLD.evidence_id, OLD.hold_until USING ERRCODE = 'insufficient_privilege';
                END IF;
                IF NEW.hold_until IS NULL OR NEW.hold_until < OLD.hold_until
                   OR NEW.refs IS DISTINCT FROM OLD.refs THEN
                    RAISE EXCEPTION 'evidence % is under a preservation hold until %',
                        OLD.evidence_id, OLD.hold_until USING ERRCODE = 'insufficient_privilege';
                END IF;
            END IF;
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NEW;
        END;
        $$
        """
    )
    op.execute(
        f"CREATE TRIGGER evidence_hold_guard BEFORE UPDATE OR DELETE ON {S}.evidence "
        f"FOR EACH ROW EXECUTE FUNCTION {S}.evidence_hold_guard()"
    )
    op.create_table(
        "legal_reports",
        sa.Column("legal_report_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("decision_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("account_id", sa.Text),
        sa.Column("evidence_refs", ARRAY(sa.Text), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        schema=S,
    )
    op.create_table(
        "statements_of_reasons",
        sa.Column("puid", sa.Text, primary_key=True),
        sa.Column("action_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("decision_id", UUID(as_uuid=True), nullable=False),
        sa.Column("statement", JSONB, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("submission_status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS),
        sa.Column("submitted_at", TS),
        sa.Column("last_error", sa.Text),
        sa.CheckConstraint(
            "submission_status IN ('pending', 'submitted', 'duplicate', 'rejected')",
            name="ck_sor_submission_status",
        ),
        schema=S,
    )
    op.execute(
        f"CREATE INDEX ix_sor_pending ON {S}.statements_of_reasons (created_at) "
        "WHERE submission_status = 'pending'"
    )
    op.create_table(
        "appeals",
        sa.Column("appeal_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("decision_id", UUID(as_uuid=True), nullable=False),
        sa.Column("appellant", sa.Text, nullable=False),
        sa.Column("lodged_by", sa.Text, nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("policy_area", sa.Text, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("original_outcome", sa.Text, nullable=False),
        sa.Column("original_action", sa.Text),
        sa.Column("original_reviewer_id", sa.Text),
        sa.Column("lodged_at", TS, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("appeal_decision_id", UUID(as_uuid=True)),
        sa.Column("decided_at", TS),
        sa.Column("decided_by", sa.Text),
        sa.UniqueConstraint("decision_id", "appellant", name="uq_appeals_decision_appellant"),
        sa.CheckConstraint("status IN ('open', 'upheld', 'overturned')", name="ck_appeals_status"),
        schema=S,
    )
    op.add_column("audit_log", sa.Column("case_id", UUID(as_uuid=True)), schema=S)
    op.create_index("ix_audit_case", "audit_log", ["case_id"], schema=S)
    op.create_index("ix_audit_actor", "audit_log", ["actor_id", "seq"], schema=S)
    op.create_index("ix_audit_recorded_at", "audit_log", ["recorded_at"], schema=S)
    op.create_index("ix_audit_decision", "audit_log", ["decision_id"], schema=S)
    op.create_table(
        "audit_checkpoints",
        sa.Column("head_seq", sa.BigInteger, primary_key=True),
        sa.Column("head_hash", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints", schema=S)
    for index in ("ix_audit_case", "ix_audit_actor", "ix_audit_recorded_at", "ix_audit_decision"):
        op.drop_index(index, "audit_log", schema=S)
    op.execute(f"ALTER TABLE {S}.audit_log DROP COLUMN case_id")
    op.drop_table("appeals", schema=S)
    op.drop_table("statements_of_reasons", schema=S)
    op.drop_table("legal_reports", schema=S)
    op.execute(f"DROP TABLE {S}.evidence")
    op.execute(f"DROP FUNCTION {S}.evidence_hold_guard()")
    op.drop_table("strikes", schema=S)
    op.execute(f"DROP INDEX {S}.ix_actions_awaiting")
    op.drop_constraint("ck_actions_status", "actions", schema=S)
    for name in (
        "content_type", "owner_account_id", "dsa_category", "decided_by", "reason",
        "correlation_id", "ends_at", "territorial_scope", "next_attempt_at", "applied_at",
        "failed_at", "reversed_at", "detail", "attempts",
    ):
        op.drop_column("actions", name, schema=S)
    for name in ("content_type", "case_id", "report_ids", "appeal_id", "communicated_at"):
        op.drop_column("decisions", name, schema=S)
    op.drop_table("api_keys", schema=S)

"""Tenant ownership of enforcement records; checkpoints protected like the audit log.

Decisions, actions, strikes, appeals and audit rows get ``client_id``: the product client whose
notice led to the decision. Existing decisions take it from intake's report when the intake
schema lives in the same database; the other tables take it from their decision. The audit rows
are given it with the append-only trigger held off for this one statement (the column is not
part of a row's hash). Rows whose client cannot be derived keep NULL: only keys with
``enforcement:read_all`` see them.

``audit_checkpoints`` refuses UPDATE, DELETE and TRUNCATE, as ``audit_log`` does.

Revision ID: 0004
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "enforcement"
OWNED = ("decisions", "actions", "strikes", "appeals", "audit_log")


def upgrade() -> None:
    for table in OWNED:
        op.execute(f"ALTER TABLE {S}.{table} ADD COLUMN client_id text")
    op.execute(
        f"""
        DO $$
        BEGIN
            IF to_regclass('intake.reports') IS NOT NULL THEN
                UPDATE {S}.decisions AS d SET client_id = r.client_id
                  FROM intake.reports AS r WHERE r.report_id = d.report_id;
            END IF;
        END
        $$
        """
    )
    # An appeal's decision belongs to the client of the decision appealed.
    op.execute(
        f"UPDATE {S}.decisions AS d SET client_id = o.client_id "
        f"FROM {S}.appeals AS a JOIN {S}.decisions AS o ON o.decision_id = a.decision_id "
        f"WHERE d.appeal_id = a.appeal_id AND d.client_id IS NULL"
    )
    for table in ("actions", "strikes", "appeals"):
        op.execute(
            f"UPDATE {S}.{table} AS t SET client_id = d.client_id FROM {S}.decisions AS d "
            f"WHERE d.decision_id = t.decision_id AND d.client_id IS NOT NULL"
        )
    op.execute(f"ALTER TABLE {S}.audit_log DISABLE TRIGGER audit_log_no_update_delete")
    op.execute(
        f"UPDATE {S}.audit_log AS t SET client_id = d.client_id FROM {S}.decisions AS d "
        f"WHERE d.decision_id = t.decision_id AND d.client_id IS NOT NULL"
    )
    op.execute(f"ALTER TABLE {S}.audit_log ENABLE TRIGGER audit_log_no_update_delete")
    op.execute(
        f"""
        CREATE FUNCTION {S}.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$
        """
    )
    op.execute(
        f"CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON "
        f"{S}.audit_checkpoints FOR EACH ROW EXECUTE FUNCTION {S}.append_only()"
    )
    op.execute(
        f"CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON {S}.audit_checkpoints "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {S}.append_only()"
    )


def downgrade() -> None:
    op.execute(f"DROP TRIGGER audit_checkpoints_no_truncate ON {S}.audit_checkpoints")
    op.execute(f"DROP TRIGGER audit_checkpoints_no_update_delete ON {S}.audit_checkpoints")
    op.execute(f"DROP FUNCTION {S}.append_only()")
    for table in OWNED:
        op.execute(f"ALTER TABLE {S}.{table} DROP COLUMN client_id")

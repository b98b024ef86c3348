"""Leaner audit-log indexes: every append pays for each index, the query API needs fewer.

Rows are appended in ``seq`` order at the time of their batch, so ``recorded_at`` follows the
physical order of the table closely and a BRIN index (a few bytes per block range, nothing per
row) narrows the API's time-range filter. Most rows carry no case, so the case index is partial
and leaves them out.

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "enforcement"


def upgrade() -> None:
    op.drop_index("ix_audit_recorded_at", "audit_log", schema=S)
    op.create_index(
        "ix_audit_recorded_at", "audit_log", ["recorded_at"], schema=S, postgresql_using="brin"
    )
    op.drop_index("ix_audit_case", "audit_log", schema=S)
    op.create_index(
        "ix_audit_case",
        "audit_log",
        ["case_id", "seq"],
        schema=S,
        postgresql_where="case_id IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_index("ix_audit_case", "audit_log", schema=S)
    op.create_index("ix_audit_case", "audit_log", ["case_id"], schema=S)
    op.drop_index("ix_audit_recorded_at", "audit_log", schema=S)
    op.create_index("ix_audit_recorded_at", "audit_log", ["recorded_at"], schema=S)

"""Decisions keep when their earliest report was received: time to action from receipt.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KPI_ACTIONS = """
    SELECT a.action_id, a.decision_id, a.action, a.policy_area, a.dsa_category,
           a.decided_by, a.status, d.received_at, d.decided_at, a.issued_at, a.applied_at,
           a.reversed_at, d.appeal_id IS NOT NULL AS is_appeal,
           COALESCE(s.statement->>'decision_ground', 'none') AS ground,
           EXTRACT(EPOCH FROM a.issued_at - d.decided_at)::float8 AS seconds_to_issued,
           EXTRACT(EPOCH FROM a.applied_at - d.decided_at)::float8 AS seconds_to_applied,
           EXTRACT(EPOCH FROM a.issued_at - d.received_at)::float8
               AS seconds_from_receipt_to_issued,
           EXTRACT(EPOCH FROM a.applied_at - d.received_at)::float8
               AS seconds_from_receipt_to_applied
      FROM enforcement.actions a
      JOIN enforcement.decisions d ON d.decision_id = a.decision_id
      LEFT JOIN enforcement.statements_of_reasons s ON s.action_id = a.action_id
"""

OLD_KPI_ACTIONS = """
    SELECT a.action_id, a.decision_id, a.action, a.policy_area, a.dsa_category,
           a.decided_by, a.status, d.decided_at, a.issued_at, a.applied_at, a.reversed_at,
           d.appeal_id IS NOT NULL AS is_appeal,
           COALESCE(s.statement->>'decision_ground', 'none') AS ground,
           EXTRACT(EPOCH FROM a.issued_at - d.decided_at)::float8 AS seconds_to_issued,
           EXTRACT(EPOCH FROM a.applied_at - d.decided_at)::float8 AS seconds_to_applied
      FROM enforcement.actions a
      JOIN enforcement.decisions d ON d.decision_id = a.decision_id
      LEFT JOIN enforcement.statements_of_reasons s ON s.action_id = a.action_id
"""


def upgrade() -> None:
    op.add_column(
        "decisions",
        sa.Column("received_at", sa.DateTime(timezone=True)),
        schema="enforcement",
    )
    # The view's columns change order, which CREATE OR REPLACE VIEW refuses.
    op.execute("DROP VIEW IF EXISTS enforcement.kpi_actions")
    op.execute(f"CREATE VIEW enforcement.kpi_actions AS {KPI_ACTIONS}")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS enforcement.kpi_actions")
    op.execute(f"CREATE VIEW enforcement.kpi_actions AS {OLD_KPI_ACTIONS}")
    op.drop_column("decisions", "received_at", schema="enforcement")

"""KPI and transparency views for operations analysts: decisions, actions, appeals.

Revision ID: 0005
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

VIEWS = {
    # One row per decision; ``notices`` is the number of reports it settled.
    "kpi_decisions": """
        SELECT decision_id, decided_at, recorded_at, policy_area, dsa_category, source, outcome,
               action, decided_by, actor_kind, actor_id, appeal_id IS NOT NULL AS is_appeal,
               GREATEST(COALESCE(cardinality(report_ids), 0), 1) AS notices
          FROM enforcement.decisions
    """,
    # One row per action with the ground of its statement of reasons and its ledger times.
    "kpi_actions": """
        SELECT a.action_id, a.decision_id, a.action, a.policy_area, a.dsa_category,
               a.decided_by, a.status, d.decided_at, a.issued_at, a.applied_at, a.reversed_at,
               d.appeal_id IS NOT NULL AS is_appeal,
               COALESCE(s.statement->>'decision_ground', 'none') AS ground,
               EXTRACT(EPOCH FROM a.issued_at - d.decided_at)::float8 AS seconds_to_issued,
               EXTRACT(EPOCH FROM a.applied_at - d.decided_at)::float8 AS seconds_to_applied
          FROM enforcement.actions a
          JOIN enforcement.decisions d ON d.decision_id = a.decision_id
          LEFT JOIN enforcement.statements_of_reasons s ON s.action_id = a.action_id
    """,
    # One row per appeal (complaint) with the original decision's maker.
    "kpi_appeals": """
        SELECT p.appeal_id, p.decision_id, p.policy_area, p.lodged_by, p.lodged_at, p.status,
               p.decided_at, p.status = 'overturned' AS overturned,
               d.decided_by AS original_decided_by, d.outcome AS original_outcome,
               d.action AS original_action,
               EXTRACT(EPOCH FROM p.decided_at - p.lodged_at)::float8 AS seconds_to_decision
          FROM enforcement.appeals p
          JOIN enforcement.decisions d ON d.decision_id = p.decision_id
    """,
}


def upgrade() -> None:
    for name, sql in VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW enforcement.{name} AS {sql}")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS enforcement.{name}")

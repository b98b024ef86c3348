"""KPI views over notices: receipt, source, category, and how each was decided.

Revision ID: 0005
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

VIEWS = {
    # One row per notice with its decision (from DecisionMade, recorded in report_progress).
    "kpi_notices": """
        SELECT r.report_id, r.client_id, r.received_at, r.source, r.policy_area, r.dsa_category,
               r.reporter_id, r.trusted_flagger_id, r.trusted_flagger_id IS NOT NULL
                   AS trusted_flagger,
               COALESCE(p.status, r.status) AS status,
               (p.outcome->>'decided_at')::timestamptz AS decided_at,
               p.outcome->>'outcome' AS outcome,
               p.outcome->>'action' AS action,
               (p.outcome->>'automated')::boolean AS automated,
               COALESCE(p.manifestly_unfounded, false) AS manifestly_unfounded,
               EXTRACT(EPOCH FROM (p.outcome->>'decided_at')::timestamptz - r.received_at)::float8
                   AS seconds_to_decision
          FROM intake.reports r
          LEFT JOIN intake.report_progress p ON p.report_id = r.report_id
    """,
}


def upgrade() -> None:
    for name, sql in VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW intake.{name} AS {sql}")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS intake.{name}")

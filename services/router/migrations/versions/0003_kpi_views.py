"""KPI views for operations analysts: time to decision, SLA, flow, handle time, QA pairs.

Revision ID: 0003
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

VIEWS = {
    # One row per routed report: who settled it, when, and how long after receipt.
    "kpi_report_decisions": """
        SELECT r.report_id,
               r.received_at,
               r.policy_area,
               COALESCE(r.payload->'report'->>'dsa_category', 'unknown') AS dsa_category,
               COALESCE(r.payload->'report'->>'source', 'unknown') AS source,
               COALESCE(lower(r.payload->'report'->>'language'), 'und') AS language,
               COALESCE(c.queue, r.queue, 'automated') AS queue,
               CASE WHEN r.outcome = 'review' THEN 'human' ELSE 'automated' END AS decided_by,
               CASE r.outcome WHEN 'action' THEN 'action' WHEN 'dismiss' THEN 'no_action'
                    ELSE c.outcome END AS outcome,
               CASE WHEN r.outcome = 'review' THEN c.decided_at ELSE r.routed_at END
                   AS decided_at,
               EXTRACT(EPOCH FROM
                   CASE WHEN r.outcome = 'review' THEN c.decided_at ELSE r.routed_at END
                   - r.received_at)::float8 AS seconds_to_decision
          FROM router.routings r
          LEFT JOIN router.cases c ON c.case_id = r.case_id AND c.status = 'decided'
    """,
    # One row per case: its deadline, the legal clock that set it (if any), and whether it met it.
    "kpi_case_sla": """
        SELECT case_id, kind, queue, policy_area, source, tier,
               COALESCE(substring(reason FROM '^legal clock (.+)$'), 'none') AS legal_clock,
               created_at, deadline, decided_at, status,
               status = 'decided' AS closed,
               CASE WHEN status = 'decided' THEN decided_at <= deadline END AS within_sla,
               status <> 'decided' AND deadline < now() AS open_past_sla,
               EXTRACT(EPOCH FROM decided_at - created_at)::float8 AS seconds_open
          FROM router.cases
    """,
    # Arrivals (cases opened) and completions (cases decided) per queue and hour; backlog is the
    # running sum of the net flow.
    "kpi_flow_hourly": """
        WITH a AS (
            SELECT queue, date_trunc('hour', created_at) AS hour, count(*) AS n
              FROM router.cases GROUP BY 1, 2
        ), d AS (
            SELECT queue, date_trunc('hour', decided_at) AS hour, count(*) AS n
              FROM router.cases WHERE status = 'decided' GROUP BY 1, 2
        ), f AS (
            SELECT COALESCE(a.queue, d.queue) AS queue, COALESCE(a.hour, d.hour) AS hour,
                   COALESCE(a.n, 0) AS arrivals, COALESCE(d.n, 0) AS completions
              FROM a FULL JOIN d ON a.queue = d.queue AND a.hour = d.hour
        )
        SELECT queue, hour, arrivals, completions, arrivals - completions AS net,
               (sum(arrivals - completions) OVER (PARTITION BY queue ORDER BY hour))::bigint
                   AS backlog
          FROM f
    """,
    # One row per human decision act: from the reviewer's latest claim of the case to the act.
    "kpi_handle_times": """
        SELECT d.activity_id, d.case_id, c.queue, c.kind, d.reviewer_id, d.act, d.at,
               EXTRACT(EPOCH FROM d.at - cl.at)::float8 AS handle_seconds
          FROM router.case_activity d
          JOIN router.cases c ON c.case_id = d.case_id
          CROSS JOIN LATERAL (
              SELECT max(x.at) AS at FROM router.case_activity x
               WHERE x.case_id = d.case_id AND x.reviewer_id = d.reviewer_id
                 AND x.act = 'claim' AND x.at <= d.at
          ) cl
         WHERE d.act IN ('decide', 'confirm', 'propose', 'qa') AND cl.at IS NOT NULL
    """,
    # One row per QA re-review: the original and the QA label (outcome/action) side by side.
    "kpi_qa_pairs": """
        SELECT q.qa_case_id, q.reviewed_at, q.decided_by, q.original_actor AS reviewer,
               q.rule, q.policy_version, q.model_versions,
               COALESCE(oc.queue, 'automated') AS queue,
               q.original_outcome || COALESCE('/' || q.original_action, '') AS original_label,
               q.qa_outcome || COALESCE('/' || q.qa_action, '') AS qa_label,
               q.original_outcome, q.original_action, q.qa_outcome, q.qa_action, q.agree
          FROM router.qa_reviews q
          LEFT JOIN router.cases oc
            ON oc.decision_id = q.original_decision_id AND oc.kind = 'report'
    """,
}


def upgrade() -> None:
    for name, sql in VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW router.{name} AS {sql}")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS router.{name}")

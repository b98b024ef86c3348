"""Operations KPIs from the router's own tables, through the ``router.kpi_*`` views.

Time to decision, SLA attainment, flow, handle time, QA accuracy with Cohen's kappa, automation
rate and precision, and the per-queue breach projection (also exported as Prometheus gauges).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.capacity import BreachRisk, project_breaches
from services.router.metrics import QUEUE_PROJECTED_BREACHES, QUEUE_SECONDS_TO_CLEAR
from shared.kpi import Window, fetch_all

TIME_TO_ACTION_KEYS = {
    "policy_area": "policy_area",
    "dsa_category": "dsa_category",
    "source": "source",
    "queue": "queue",
    "language": "language",
    "decided_by": "decided_by",
}
SLA_KEYS = {"queue": "queue", "legal_clock": "legal_clock", "policy_area": "policy_area"}
HANDLE_KEYS = {"queue": "queue", "reviewer": "reviewer_id"}
QA_KEYS = {
    "reviewer": "reviewer",
    "queue": "queue",
    "rule": "rule",
    "policy_version": "policy_version",
    "model": "m.key || '=' || m.value",
}


async def time_to_action(engine: AsyncEngine, by: str, window: Window) -> list[dict[str, Any]]:
    """Median, p90 and p95 seconds from receipt to decision, per ``by``, decided in the window."""
    where, params = window.where("decided_at")
    return await fetch_all(
        engine,
        f"""
        SELECT {TIME_TO_ACTION_KEYS[by]} AS key, count(*) AS decisions,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_decision) AS median_seconds,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds_to_decision) AS p90_seconds,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds_to_decision) AS p95_seconds
          FROM router.kpi_report_decisions
         WHERE decided_at IS NOT NULL AND {where}
         GROUP BY 1 ORDER BY 1
        """,
        **params,
    )


async def sla(engine: AsyncEngine, by: str, window: Window) -> list[dict[str, Any]]:
    """Closed within target / closed (closed in the window); open past deadline / open (now)."""
    where, params = window.where("decided_at")
    rows = await fetch_all(
        engine,
        f"""
        SELECT {SLA_KEYS[by]} AS key,
               count(*) FILTER (WHERE closed AND {where}) AS closed,
               count(*) FILTER (WHERE closed AND within_sla AND {where}) AS closed_within_sla,
               count(*) FILTER (WHERE NOT closed) AS open,
               count(*) FILTER (WHERE open_past_sla) AS open_past_sla
          FROM router.kpi_case_sla GROUP BY 1 ORDER BY 1
        """,
        **params,
    )
    for r in rows:
        r["attainment"] = r["closed_within_sla"] / r["closed"] if r["closed"] else None
        r["open_past_sla_share"] = r["open_past_sla"] / r["open"] if r["open"] else None
    return [r for r in rows if r["closed"] or r["open"]]


async def flow(engine: AsyncEngine, queue: str | None, window: Window) -> list[dict[str, Any]]:
    """Arrivals, completions, net flow and backlog per queue and hour."""
    where, params = window.where("hour")
    if queue is not None:
        where += " AND queue = :queue"
        params["queue"] = queue
    return await fetch_all(
        engine,
        f"SELECT queue, hour, arrivals, completions, net, backlog FROM router.kpi_flow_hourly "
        f"WHERE {where} ORDER BY queue, hour",
        **params,
    )


async def handle_time(engine: AsyncEngine, by: str, window: Window) -> list[dict[str, Any]]:
    """Average handle time (claim to decision act) per queue or reviewer."""
    where, params = window.where("at")
    return await fetch_all(
        engine,
        f"""
        SELECT {HANDLE_KEYS[by]} AS key, count(*) AS decisions,
               avg(handle_seconds) AS aht_seconds,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY handle_seconds) AS median_seconds
          FROM router.kpi_handle_times WHERE {where} GROUP BY 1 ORDER BY 1
        """,
        **params,
    )


def cohen_kappa(pairs: Iterable[tuple[str, str, int]]) -> float | None:
    """Cohen's kappa (p_o - p_e) / (1 - p_e) over (first label, second label, count) triples.

    None without pairs; 1.0 when both raters always give the one same label (p_e = 1).
    """
    n = 0
    agreed = 0
    first: dict[str, int] = defaultdict(int)
    second: dict[str, int] = defaultdict(int)
    for a, b, count in pairs:
        n += count
        first[a] += count
        second[b] += count
        if a == b:
            agreed += count
    if n == 0:
        return None
    p_o = agreed / n
    p_e = sum(first[k] * second.get(k, 0) for k in first) / (n * n)
    if math.isclose(p_e, 1.0):
        return 1.0
    return (p_o - p_e) / (1 - p_e)


async def qa(engine: AsyncEngine, by: str, window: Window) -> list[dict[str, Any]]:
    """QA accuracy (agreed / audited) and Cohen's kappa per reviewer, queue, rule or model."""
    where, params = window.where("reviewed_at")
    joins = ", jsonb_each_text(model_versions) AS m" if by == "model" else ""
    rows = await fetch_all(
        engine,
        f"""
        SELECT {QA_KEYS[by]} AS key, original_label, qa_label,
               count(*) AS n, count(*) FILTER (WHERE agree) AS agreed
          FROM router.kpi_qa_pairs{joins} WHERE {where} GROUP BY 1, 2, 3
        """,
        **params,
    )
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["key"]].append(r)
    out = []
    for key in sorted(groups):
        g = groups[key]
        pairs = sum(r["n"] for r in g)
        agreed = sum(r["agreed"] for r in g)
        out.append(
            {
                "key": key,
                "pairs": pairs,
                "agreed": agreed,
                "accuracy": agreed / pairs,
                "kappa": cohen_kappa((r["original_label"], r["qa_label"], r["n"]) for r in g),
            }
        )
    return out


async def automation(engine: AsyncEngine, window: Window) -> list[dict[str, Any]]:
    """Per policy area: automation rate, and precision of automated actions from QA samples.

    Precision = QA-confirmed automated actions / QA-sampled automated actions (TP / (TP + FP));
    enforcement adds the appeals-based view of the same decisions.
    """
    where, params = window.where("decided_at")
    qa_where, _ = window.where("reviewed_at")
    rows = await fetch_all(
        engine,
        f"""
        WITH d AS (
            SELECT policy_area, count(*) AS decisions,
                   count(*) FILTER (WHERE decided_by = 'automated') AS automated,
                   count(*) FILTER (WHERE decided_by = 'automated' AND outcome = 'action')
                       AS automated_actions
              FROM router.kpi_report_decisions
             WHERE decided_at IS NOT NULL AND {where} GROUP BY 1
        ), q AS (
            SELECT rule AS policy_area,
                   count(*) FILTER (WHERE original_outcome = 'action') AS sampled_actions,
                   count(*) FILTER (WHERE original_outcome = 'action' AND qa_outcome = 'action')
                       AS true_positives,
                   count(*) FILTER (WHERE original_outcome = 'action' AND qa_outcome <> 'action')
                       AS false_positives,
                   count(*) FILTER (WHERE original_outcome <> 'action' AND qa_outcome = 'action')
                       AS false_negatives
              FROM router.kpi_qa_pairs
             WHERE decided_by = 'automated' AND {qa_where} GROUP BY 1
        )
        SELECT COALESCE(d.policy_area, q.policy_area) AS policy_area,
               COALESCE(d.decisions, 0) AS decisions, COALESCE(d.automated, 0) AS automated,
               COALESCE(d.automated_actions, 0) AS automated_actions,
               COALESCE(q.true_positives, 0) AS qa_true_positives,
               COALESCE(q.false_positives, 0) AS qa_false_positives,
               COALESCE(q.false_negatives, 0) AS qa_false_negatives
          FROM d FULL JOIN q ON d.policy_area = q.policy_area ORDER BY 1
        """,
        **params,
    )
    for r in rows:
        r["automation_rate"] = r["automated"] / r["decisions"] if r["decisions"] else None
        tp, fp, fn = r["qa_true_positives"], r["qa_false_positives"], r["qa_false_negatives"]
        r["precision"] = tp / (tp + fp) if tp + fp else None
        r["recall"] = tp / (tp + fn) if tp + fn else None
    return rows


_RISK_SQL = """
    WITH open AS (
        SELECT queue, array_agg(deadline ORDER BY deadline) AS deadlines
          FROM router.cases WHERE status <> 'decided' GROUP BY queue
    ), arrivals AS (
        SELECT queue, count(*) AS n FROM router.cases
         WHERE created_at >= now() - make_interval(secs => :window) GROUP BY queue
    ), handle AS (
        SELECT queue, avg(handle_seconds) AS aht FROM router.kpi_handle_times
         WHERE at >= now() - make_interval(secs => :aht_window) GROUP BY queue
    ), shift AS (
        SELECT c.queue, count(DISTINCT a.reviewer_id) AS reviewers
          FROM router.case_activity a JOIN router.cases c ON c.case_id = a.case_id
         WHERE a.at >= now() - make_interval(secs => :window) GROUP BY c.queue
    )
    SELECT open.queue, open.deadlines, COALESCE(arrivals.n, 0) AS arrivals, handle.aht,
           COALESCE(shift.reviewers, 0) AS reviewers, now() AS now
      FROM open
      LEFT JOIN arrivals USING (queue) LEFT JOIN handle USING (queue) LEFT JOIN shift USING (queue)
     ORDER BY open.queue
"""


async def breach_risk(
    engine: AsyncEngine,
    *,
    default_aht_seconds: float,
    window_seconds: float = 3600,
    aht_window_seconds: float = 7 * 86400,
) -> list[BreachRisk]:
    """Per queue with open cases: time to clear and cases projected to miss their deadline.

    Arrivals: cases opened in the last ``window_seconds``; reviewers on shift: distinct reviewers
    who acted on the queue's cases in that window; AHT: the queue's mean over ``aht_window_seconds``
    (``default_aht_seconds`` when none was measured).
    """
    rows = await fetch_all(engine, _RISK_SQL, window=window_seconds, aht_window=aht_window_seconds)
    return [
        project_breaches(
            queue=r["queue"],
            deadlines=r["deadlines"],
            now=r["now"],
            arrivals_per_hour=r["arrivals"] * 3600 / window_seconds,
            aht_seconds=float(r["aht"]) if r["aht"] else default_aht_seconds,
            reviewers=r["reviewers"],
        )
        for r in rows
    ]


async def refresh_breach_metrics(
    engine: AsyncEngine, known: set[str], *, default_aht_seconds: float
) -> None:
    """Set the projected-breach and time-to-clear gauges; queues now empty go to zero."""
    risks = await breach_risk(engine, default_aht_seconds=default_aht_seconds)
    seen = set()
    for r in risks:
        seen.add(r.queue)
        QUEUE_PROJECTED_BREACHES.labels(r.queue).set(r.projected_breaches)
        QUEUE_SECONDS_TO_CLEAR.labels(r.queue).set(r.seconds_to_clear)
    for queue in known - seen:
        QUEUE_PROJECTED_BREACHES.labels(queue).set(0)
        QUEUE_SECONDS_TO_CLEAR.labels(queue).set(0)

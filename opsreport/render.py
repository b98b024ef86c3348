"""The operations report: one HTML page for a period, charts and tables from the live database.

It is an analyst's client of the services' documented ``kpi_*`` views (router, enforcement and
intake schemas), read-only; it never reads the services' tables. Sections: time to decision
distribution, SLA attainment trend, backlog flow, staffing need against the reviewers on shift,
QA accuracy and kappa per queue, automation precision, transparency figures, and for a postmortem
the cases that went late in the window.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.enforcement import transparency
from services.router import report as router_report
from shared.charts import bar_chart, page, table


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


async def automation(engine: AsyncEngine, since: datetime, until: datetime) -> str:
    qa_rows = await _rows(
        engine,
        "SELECT rule AS policy_area, "
        "count(*) FILTER (WHERE original_outcome = 'action') AS sampled, "
        "count(*) FILTER (WHERE original_outcome = 'action' AND qa_outcome = 'action') AS tp "
        "FROM router.kpi_qa_pairs WHERE decided_by = 'automated' "
        "AND reviewed_at >= :since AND reviewed_at < :until GROUP BY 1",
        since=since,
        until=until,
    )
    appeal_rows = await _rows(
        engine,
        "SELECT policy_area, count(*) AS decided, count(*) FILTER (WHERE NOT overturned) AS upheld "
        "FROM enforcement.kpi_appeals WHERE original_decided_by = 'automated' "
        "AND original_outcome = 'action' AND status <> 'open' "
        "AND decided_at >= :since AND decided_at < :until GROUP BY 1",
        since=since,
        until=until,
    )
    areas = sorted({r["policy_area"] for r in qa_rows} | {r["policy_area"] for r in appeal_rows})
    by_qa = {r["policy_area"]: r for r in qa_rows}
    by_appeal = {r["policy_area"]: r for r in appeal_rows}
    out = []
    for a in areas:
        q, p = by_qa.get(a), by_appeal.get(a)
        out.append(
            {
                "policy_area": a,
                "qa_sampled_actions": q["sampled"] if q else 0,
                "precision_qa": q["tp"] / q["sampled"] if q and q["sampled"] else None,
                "appeals_decided": p["decided"] if p else 0,
                "precision_appeals": p["upheld"] / p["decided"] if p else None,
            }
        )
    series: dict[str, list[float | None]] = {
        "from QA samples": [r["precision_qa"] for r in out],
        "from appeals": [r["precision_appeals"] for r in out],
    }
    return bar_chart("Precision of automated actions", areas, series) + table(out)


async def transparency_section(engine: AsyncEngine, since: datetime, until: datetime) -> str:
    f = await transparency.figures(engine, since, until)
    notices = await _rows(
        engine,
        "SELECT dsa_category, source, count(*) AS notices, "
        "count(*) FILTER (WHERE outcome = 'action') AS actioned, "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_decision) "
        "FILTER (WHERE outcome = 'action') AS median_s_receipt_to_action "
        "FROM intake.kpi_notices WHERE received_at >= :since AND received_at < :until "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        since=since,
        until=until,
    )
    return (
        "<h3>Notices received (intake)</h3>"
        + table(notices)
        + "<h3>Actions by ground and type</h3>"
        + table(f["actions"])
        + "<h3>Complaints</h3>"
        + table([f["complaints"]])
        + "<h3>Automated means (appeals)</h3>"
        + table([f["automated_means"]])
        + "<h3>Decision to action</h3>"
        + table([f["time_to_action"]])
    )


async def postmortem(engine: AsyncEngine, since: datetime, until: datetime) -> str:
    late = await _rows(
        engine,
        "SELECT case_id, queue, policy_area, source, legal_clock, created_at, deadline, "
        "decided_at, status FROM router.kpi_case_sla "
        "WHERE deadline >= :since AND deadline < :until "
        "AND (NOT closed OR NOT within_sla) ORDER BY deadline LIMIT 500",
        since=since,
        until=until,
    )
    reversed_ = await _rows(
        engine,
        "SELECT appeal_id, decision_id, policy_area, original_decided_by, original_action, "
        "lodged_at, decided_at FROM enforcement.kpi_appeals "
        "WHERE overturned AND decided_at >= :since AND decided_at < :until "
        "ORDER BY decided_at LIMIT 500",
        since=since,
        until=until,
    )
    return (
        "<h3>Cases due in the window that missed their deadline</h3>"
        + table(late)
        + "<h3>Decisions reversed on appeal in the window</h3>"
        + table(reversed_)
    )


async def render(
    engine: AsyncEngine,
    since: datetime,
    until: datetime,
    *,
    clearance_hours: float = 8.0,
    incident: bool = False,
) -> str:
    """The whole page for ``[since, until)``; ``incident`` adds the postmortem sections."""
    body = await router_report.sections(engine, since, until, clearance_hours=clearance_hours)
    body += [
        ("Automation precision", await automation(engine, since, until)),
        ("Transparency figures (DSA Art. 15/24)", await transparency_section(engine, since, until)),
    ]
    if incident:
        body.insert(0, ("Postmortem", await postmortem(engine, since, until)))
    kind = "Incident postmortem" if incident else "Operations report"
    return page(f"{kind}: {since.isoformat()} to {until.isoformat()}", body)

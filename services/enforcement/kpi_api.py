"""Operations KPI and transparency routes. Every route needs the operations-wide ``kpi:read`` scope.

Figures come from the ``enforcement.kpi_*`` views; ``since``/``until`` bound the window (aware
ISO-8601 times).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from services.enforcement import transparency
from shared.apikeys import AUTH_RESPONSES
from shared.http import IsoDatetime
from shared.kpi import REQUIRE_KPI_SCOPE, Engine, WindowQuery, csv_download, fetch_all

router = APIRouter(
    prefix="/v1", tags=["kpis"], responses=AUTH_RESPONSES, dependencies=[REQUIRE_KPI_SCOPE]
)

_KEYS = {
    "policy_area": "policy_area",
    "dsa_category": "dsa_category",
    "decided_by": "decided_by",
    "action": "action",
}


@router.get(
    "/kpis/time-to-action",
    summary="Median, p90, p95 seconds from decision to action issued and to action applied, "
    "and from the receipt of the earliest report settled to action applied",
)
async def time_to_action(
    engine: Engine,
    window: WindowQuery,
    by: Annotated[Literal["policy_area", "dsa_category", "decided_by", "action"], Query()] = (
        "policy_area"
    ),
) -> list[dict[str, Any]]:
    where, params = window.where("decided_at")
    return await fetch_all(
        engine,
        f"""
        SELECT {_KEYS[by]} AS key, count(*) AS actions, count(applied_at) AS applied,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_issued)
                   AS median_seconds_to_issued,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_applied)
                   AS median_seconds_to_applied,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds_to_applied)
                   AS p90_seconds_to_applied,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds_to_applied)
                   AS p95_seconds_to_applied,
               count(seconds_from_receipt_to_applied) AS applied_with_receipt,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_from_receipt_to_applied)
                   AS median_seconds_from_receipt_to_applied,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds_from_receipt_to_applied)
                   AS p90_seconds_from_receipt_to_applied,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds_from_receipt_to_applied)
                   AS p95_seconds_from_receipt_to_applied
          FROM enforcement.kpi_actions WHERE NOT is_appeal AND {where}
         GROUP BY 1 ORDER BY 1
        """,
        **params,
    )


@router.get(
    "/kpis/appeals", summary="Appeal rate and overturn rate per policy area and decision maker"
)
async def appeals(engine: Engine, window: WindowQuery) -> list[dict[str, Any]]:
    where, params = window.where("decided_at")
    rows = await fetch_all(
        engine,
        f"""
        WITH d AS (
            SELECT decision_id, policy_area, decided_by FROM enforcement.kpi_decisions
             WHERE NOT is_appeal AND {where}
        )
        SELECT d.policy_area, d.decided_by, count(DISTINCT d.decision_id) AS decisions,
               count(a.appeal_id) AS appeals,
               count(a.appeal_id) FILTER (WHERE a.status <> 'open') AS decided,
               count(a.appeal_id) FILTER (WHERE a.overturned) AS overturned
          FROM d LEFT JOIN enforcement.kpi_appeals a ON a.decision_id = d.decision_id
         GROUP BY 1, 2 ORDER BY 1, 2
        """,
        **params,
    )
    for r in rows:
        r["appeal_rate"] = r["appeals"] / r["decisions"] if r["decisions"] else None
        r["overturn_rate"] = r["overturned"] / r["decided"] if r["decided"] else None
    return rows


@router.get(
    "/kpis/automation",
    summary="Automation rate, and precision of automated actions as measured by appeals",
)
async def automation(engine: Engine, window: WindowQuery) -> list[dict[str, Any]]:
    where, params = window.where("decided_at")
    rows = await fetch_all(
        engine,
        f"""
        WITH d AS (
            SELECT decision_id, policy_area, decided_by, outcome FROM enforcement.kpi_decisions
             WHERE NOT is_appeal AND {where}
        )
        SELECT d.policy_area, count(*) AS decisions,
               count(*) FILTER (WHERE d.decided_by = 'automated') AS automated,
               count(*) FILTER (WHERE d.decided_by = 'automated' AND d.outcome = 'action')
                   AS automated_actions,
               count(a.appeal_id) FILTER (WHERE d.decided_by = 'automated'
                   AND d.outcome = 'action' AND a.status <> 'open') AS appealed_decided,
               count(a.appeal_id) FILTER (WHERE d.decided_by = 'automated'
                   AND d.outcome = 'action' AND a.overturned) AS appealed_overturned
          FROM d LEFT JOIN enforcement.kpi_appeals a ON a.decision_id = d.decision_id
         GROUP BY 1 ORDER BY 1
        """,
        **params,
    )
    for r in rows:
        r["automation_rate"] = r["automated"] / r["decisions"] if r["decisions"] else None
        # An automated action upheld on appeal counts as a true positive, overturned as a false one.
        decided = r["appealed_decided"]
        r["precision_from_appeals"] = (
            (decided - r["appealed_overturned"]) / decided if decided else None
        )
    return rows


@router.get(
    "/transparency",
    summary="DSA Art. 15/24 figures for a period, as JSON or CSV",
    responses={200: {"content": {"text/csv": {}}}},
)
async def transparency_report(
    engine: Engine,
    since: Annotated[IsoDatetime, Query(description="period start (inclusive)")],
    until: Annotated[
        IsoDatetime,
        Query(description="period end (exclusive); a period that ends before it starts is empty"),
    ],
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    data = await transparency.figures(engine, since, until)
    if format == "csv":
        return csv_download(
            transparency.as_csv(data), f"transparency-{since.date()}-{until.date()}.csv"
        )
    return data

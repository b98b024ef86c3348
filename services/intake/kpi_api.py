"""Notice KPIs and the notice side of the DSA transparency figures (``kpi:read`` scope).

From the ``intake.kpi_notices`` view (each notice with the decision intake recorded from
``DecisionMade``) and ``intake.misuse_events``: notices by category and source, receipt-to-action
times, reporters' actionable rate, and Art. 23 measures against notifiers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.apikeys import AUTH_RESPONSES
from shared.figures import figures_csv
from shared.http import IsoDatetime
from shared.kpi import REQUIRE_KPI_SCOPE, Engine, WindowQuery, csv_download, fetch_all

router = APIRouter(
    prefix="/v1", tags=["kpis"], responses=AUTH_RESPONSES, dependencies=[REQUIRE_KPI_SCOPE]
)

_KEYS = {"dsa_category": "dsa_category", "source": "source", "policy_area": "policy_area"}
DIMENSIONS = {
    "notices": ("dsa_category", "source"),
    "misuse_measures": ("kind",),
}

_ACTIONED = "outcome = 'action'"


@router.get(
    "/kpis/notices",
    summary="Notices received, decided and actioned, and receipt-to-action times, per dimension",
)
async def notices(
    engine: Engine,
    window: WindowQuery,
    by: Annotated[Literal["dsa_category", "source", "policy_area"], Query()] = "dsa_category",
) -> list[dict[str, Any]]:
    where, params = window.where("received_at")
    rows = await fetch_all(
        engine,
        f"""
        SELECT {_KEYS[by]} AS key, count(*) AS notices, count(decided_at) AS decided,
               count(*) FILTER (WHERE {_ACTIONED}) AS actioned,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_decision)
                   FILTER (WHERE {_ACTIONED}) AS median_seconds_to_action,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds_to_decision)
                   FILTER (WHERE {_ACTIONED}) AS p90_seconds_to_action,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds_to_decision)
                   FILTER (WHERE {_ACTIONED}) AS p95_seconds_to_action
          FROM intake.kpi_notices WHERE {where} GROUP BY 1 ORDER BY 1
        """,
        **params,
    )
    for r in rows:
        r["actionable_rate"] = r["actioned"] / r["decided"] if r["decided"] else None
    return rows


@router.get("/kpis/reporters", summary="Actionable rate per reporter (actioned / decided notices)")
async def reporters(
    engine: Engine,
    window: WindowQuery,
    min_notices: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict[str, Any]]:
    where, params = window.where("received_at")
    rows = await fetch_all(
        engine,
        f"""
        SELECT client_id, reporter_id, count(*) AS notices, count(decided_at) AS decided,
               count(*) FILTER (WHERE {_ACTIONED}) AS actioned,
               count(*) FILTER (WHERE manifestly_unfounded) AS manifestly_unfounded
          FROM intake.kpi_notices
         WHERE reporter_id IS NOT NULL AND {where}
         GROUP BY 1, 2 HAVING count(*) >= :min_notices
         ORDER BY notices DESC, client_id, reporter_id LIMIT :limit
        """,
        **params,
        min_notices=min_notices,
        limit=limit,
    )
    for r in rows:
        r["actionable_rate"] = r["actioned"] / r["decided"] if r["decided"] else None
    return rows


async def figures(engine: AsyncEngine, since: datetime, until: datetime) -> dict[str, Any]:
    """The notice side of the Art. 15/24 figures for notices received in ``[since, until)``."""
    params = {"since": since, "until": until}
    period = "received_at >= :since AND received_at < :until"
    out: dict[str, Any] = {"period": {"since": since.isoformat(), "until": until.isoformat()}}
    out["notices"] = await fetch_all(
        engine,
        f"""
        SELECT dsa_category, source, count(*) AS notices,
               count(*) FILTER (WHERE trusted_flagger) AS from_trusted_flaggers,
               count(*) FILTER (WHERE {_ACTIONED}) AS actioned,
               count(*) FILTER (WHERE {_ACTIONED} AND automated) AS actioned_automatically
          FROM intake.kpi_notices WHERE {period} GROUP BY 1, 2 ORDER BY 1, 2
        """,
        **params,
    )
    [out["time_to_action"]] = await fetch_all(
        engine,
        f"""
        SELECT count(*) FILTER (WHERE {_ACTIONED}) AS actioned,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_decision)
                   FILTER (WHERE {_ACTIONED}) AS median_seconds_receipt_to_action
          FROM intake.kpi_notices WHERE {period}
        """,
        **params,
    )
    out["misuse_measures"] = await fetch_all(
        engine,
        """
        SELECT kind, count(*) AS measures, count(DISTINCT (client_id, reporter_id)) AS notifiers
          FROM intake.misuse_events WHERE at >= :since AND at < :until
         GROUP BY 1 ORDER BY 1
        """,
        **params,
    )
    out["notices_total"] = sum(r["notices"] for r in out["notices"])
    out["trusted_flagger_notices"] = sum(r["from_trusted_flaggers"] for r in out["notices"])
    return out


@router.get(
    "/transparency",
    summary="DSA Art. 15/24 notice figures for a period, as JSON or CSV",
    responses={200: {"content": {"text/csv": {}}}},
)
async def transparency_report(
    engine: Engine,
    since: Annotated[IsoDatetime, Query(description="period start (inclusive)")],
    until: Annotated[IsoDatetime, Query(description="period end (exclusive)")],
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    data = await figures(engine, since, until)
    if format == "csv":
        return csv_download(
            figures_csv(data, DIMENSIONS), f"notices-{since.date()}-{until.date()}.csv"
        )
    return data

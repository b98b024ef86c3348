"""Notice KPIs and the notice side of the DSA transparency figures (``kpi:read`` scope).

From the ``intake.kpi_notices`` view (each notice with the decision intake recorded from
``DecisionMade``) and ``intake.misuse_events``: notices by category and source, receipt-to-action
times, reporters' actionable rate, and Art. 23 measures against notifiers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.apikeys import AUTH_RESPONSES, Principal, require_scope
from shared.figures import figures_csv
from shared.http import IsoDatetime

KPI_SCOPE = "kpi:read"

router = APIRouter(prefix="/v1", tags=["kpis"], responses=AUTH_RESPONSES)

Ops = Annotated[Principal, require_scope(KPI_SCOPE)]
Since = Annotated[IsoDatetime | None, Query(description="window start (inclusive)")]
Until = Annotated[
    IsoDatetime | None,
    Query(description="window end (exclusive); a window that ends before it starts is empty"),
]
_KEYS = {"dsa_category": "dsa_category", "source": "source", "policy_area": "policy_area"}
DIMENSIONS = {
    "notices": ("dsa_category", "source"),
    "misuse_measures": ("kind",),
}


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.runtime.engine
    return engine


def _window(
    column: str, since: datetime | None, until: datetime | None
) -> tuple[str, dict[str, Any]]:
    if since is not None and until is not None and until <= since:
        # A window whose end is not after its start is empty, not an error: the document
        # cannot state the rule, and an empty period has well-defined figures (none).
        return "FALSE", {}
    clauses, params = [], {}
    if since is not None:
        clauses.append(f"{column} >= :since")
        params["since"] = since
    if until is not None:
        clauses.append(f"{column} < :until")
        params["until"] = until
    return " AND ".join(clauses) or "TRUE", params


async def _rows(engine: AsyncEngine, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


_ACTIONED = "outcome = 'action'"


@router.get(
    "/kpis/notices",
    summary="Notices received, decided and actioned, and receipt-to-action times, per dimension",
)
async def notices(
    _: Ops,
    request: Request,
    by: Annotated[Literal["dsa_category", "source", "policy_area"], Query()] = "dsa_category",
    since: Since = None,
    until: Until = None,
) -> list[dict[str, Any]]:
    where, params = _window("received_at", since, until)
    rows = await _rows(
        _engine(request),
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
        params,
    )
    for r in rows:
        r["actionable_rate"] = r["actioned"] / r["decided"] if r["decided"] else None
    return rows


@router.get("/kpis/reporters", summary="Actionable rate per reporter (actioned / decided notices)")
async def reporters(
    _: Ops,
    request: Request,
    since: Since = None,
    until: Until = None,
    min_notices: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict[str, Any]]:
    where, params = _window("received_at", since, until)
    rows = await _rows(
        _engine(request),
        f"""
        SELECT client_id, reporter_id, count(*) AS notices, count(decided_at) AS decided,
               count(*) FILTER (WHERE {_ACTIONED}) AS actioned,
               count(*) FILTER (WHERE manifestly_unfounded) AS manifestly_unfounded
          FROM intake.kpi_notices
         WHERE reporter_id IS NOT NULL AND {where}
         GROUP BY 1, 2 HAVING count(*) >= :min_notices
         ORDER BY notices DESC, client_id, reporter_id LIMIT :limit
        """,
        {**params, "min_notices": min_notices, "limit": limit},
    )
    for r in rows:
        r["actionable_rate"] = r["actioned"] / r["decided"] if r["decided"] else None
    return rows


async def figures(engine: AsyncEngine, since: datetime, until: datetime) -> dict[str, Any]:
    """The notice side of the Art. 15/24 figures for notices received in ``[since, until)``."""
    params = {"since": since, "until": until}
    period = "received_at >= :since AND received_at < :until"
    out: dict[str, Any] = {"period": {"since": since.isoformat(), "until": until.isoformat()}}
    out["notices"] = await _rows(
        engine,
        f"""
        SELECT dsa_category, source, count(*) AS notices,
               count(*) FILTER (WHERE trusted_flagger) AS from_trusted_flaggers,
               count(*) FILTER (WHERE {_ACTIONED}) AS actioned,
               count(*) FILTER (WHERE {_ACTIONED} AND automated) AS actioned_automatically
          FROM intake.kpi_notices WHERE {period} GROUP BY 1, 2 ORDER BY 1, 2
        """,
        params,
    )
    [out["time_to_action"]] = await _rows(
        engine,
        f"""
        SELECT count(*) FILTER (WHERE {_ACTIONED}) AS actioned,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_decision)
                   FILTER (WHERE {_ACTIONED}) AS median_seconds_receipt_to_action
          FROM intake.kpi_notices WHERE {period}
        """,
        params,
    )
    out["misuse_measures"] = await _rows(
        engine,
        """
        SELECT kind, count(*) AS measures, count(DISTINCT (client_id, reporter_id)) AS notifiers
          FROM intake.misuse_events WHERE at >= :since AND at < :until
         GROUP BY 1 ORDER BY 1
        """,
        params,
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
    _: Ops,
    request: Request,
    since: Annotated[IsoDatetime, Query(description="period start (inclusive)")],
    until: Annotated[IsoDatetime, Query(description="period end (exclusive)")],
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    _window("received_at", since, until)
    data = await figures(_engine(request), since, until)
    if format == "csv":
        name = f"notices-{since.date()}-{until.date()}.csv"
        return Response(
            figures_csv(data, DIMENSIONS),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return data

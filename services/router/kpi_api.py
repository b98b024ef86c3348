"""Operations KPI and capacity routes. Every route needs the operations-wide ``kpi:read`` scope.

Figures are computed from the ``router.kpi_*`` views; ``since``/``until`` bound the window
(aware ISO-8601 times; open-ended when absent).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from services.router import kpis, report
from services.router.forecast import forecast_queue
from services.router.settings import RouterSettings
from services.router.staffing import QueueTargets, staffing_for
from shared.apikeys import AUTH_RESPONSES
from shared.events import utcnow
from shared.http import JSON_INTEGER, IsoDatetime
from shared.kpi import REQUIRE_KPI_SCOPE, Engine, WindowQuery

router = APIRouter(
    prefix="/v1", tags=["kpis"], responses=AUTH_RESPONSES, dependencies=[REQUIRE_KPI_SCOPE]
)


def _settings(request: Request) -> RouterSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


Settings = Annotated[RouterSettings, Depends(_settings)]


@router.get("/kpis/time-to-action", summary="Median, p90, p95 seconds from receipt to decision")
async def time_to_action(
    engine: Engine,
    window: WindowQuery,
    by: Annotated[
        Literal["policy_area", "dsa_category", "source", "queue", "language", "decided_by"],
        Query(),
    ] = "queue",
) -> list[dict[str, Any]]:
    return await kpis.time_to_action(engine, by, window)


@router.get("/kpis/sla", summary="SLA attainment of closed cases and open cases past deadline")
async def sla(
    engine: Engine,
    window: WindowQuery,
    by: Annotated[Literal["queue", "legal_clock", "policy_area"], Query()] = "queue",
) -> list[dict[str, Any]]:
    return await kpis.sla(engine, by, window)


@router.get("/kpis/flow", summary="Arrivals, completions, net flow and backlog per queue and hour")
async def flow(
    engine: Engine,
    window: WindowQuery,
    queue: Annotated[str | None, Query(max_length=63)] = None,
) -> list[dict[str, Any]]:
    return await kpis.flow(engine, queue, window)


@router.get("/kpis/handle-time", summary="Average handle time per queue or reviewer")
async def handle_time(
    engine: Engine,
    window: WindowQuery,
    by: Annotated[Literal["queue", "reviewer"], Query()] = "queue",
) -> list[dict[str, Any]]:
    return await kpis.handle_time(engine, by, window)


@router.get("/kpis/qa", summary="QA accuracy and Cohen's kappa, with the number of pairs")
async def qa(
    engine: Engine,
    window: WindowQuery,
    by: Annotated[
        Literal["reviewer", "queue", "rule", "policy_version", "model"], Query()
    ] = "reviewer",
) -> list[dict[str, Any]]:
    return await kpis.qa(engine, by, window)


@router.get("/kpis/automation", summary="Automation rate and QA-measured precision per area")
async def automation(engine: Engine, window: WindowQuery) -> list[dict[str, Any]]:
    return await kpis.automation(engine, window)


@router.get("/kpis/breach-risk", summary="Per queue: time to clear and projected deadline misses")
async def breach_risk(engine: Engine, settings: Settings) -> list[dict[str, Any]]:
    risks = await kpis.breach_risk(engine, default_aht_seconds=settings.default_handle_seconds)
    return [
        {
            **r.__dict__,
            "seconds_to_clear": None if math.isinf(r.seconds_to_clear) else r.seconds_to_clear,
        }
        for r in risks
    ]


class QueuePlan(QueueTargets):
    """One queue's forecast and targets for one interval."""

    arrivals_per_hour: float = Field(ge=0, le=1e7)
    backlog: Annotated[
        int,
        # Lax under the strict model: JSON Schema counts 3.0 as an integer too; JSON_INTEGER
        # still refuses booleans and text.
        Field(ge=0, le=10**9, strict=False, description="open cases (backlog model)"),
        JSON_INTEGER,
    ] = 0


class CapacityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queues: list[QueuePlan] = Field(min_length=1, max_length=500)


def staffing_row(plan: QueuePlan) -> dict[str, Any]:
    return {
        "queue": plan.queue,
        **staffing_for(plan, plan.arrivals_per_hour, plan.backlog).__dict__,
    }


@router.post("/capacity/plan", summary="Reviewers needed per queue (Erlang C or backlog model)")
async def capacity_plan(body: CapacityRequest) -> list[dict[str, Any]]:
    return [staffing_row(q) for q in body.queues]


@router.get(
    "/capacity/forecast",
    summary="Hourly arrivals forecast for a queue (Holt-Winters, daily and weekly seasonality)",
)
async def capacity_forecast(
    engine: Engine,
    queue: Annotated[str, Query(min_length=1, max_length=63)],
    days: Annotated[int, Query(ge=1, le=365, description="days of history")] = 28,
    horizon_hours: Annotated[int, Query(ge=1, le=24 * 14)] = 24,
    until: Annotated[
        IsoDatetime | None,
        Query(description="end of the history (default now; earlier for a backtest)"),
    ] = None,
) -> list[dict[str, Any]]:
    return await forecast_queue(
        engine, queue, now=until or utcnow(), days=days, horizon=horizon_hours
    )


@router.get(
    "/report",
    summary="The review operations report as an HTML page with charts (default: last 7 days)",
    description="A report covers at most 92 days: of a longer period, the last 92 days. A "
    "period that ends where or before it starts is an empty report.",
    response_class=HTMLResponse,
)
async def report_page(
    engine: Engine,
    window: WindowQuery,
    clearance_hours: Annotated[float, Query(ge=0.01, le=24 * 30)] = 8.0,
) -> HTMLResponse:
    end = window.until or utcnow()
    start = window.since or end - timedelta(days=7)
    return HTMLResponse(await report.render(engine, start, end, clearance_hours=clearance_hours))

"""Operations KPI and capacity routes. Every route needs the operations-wide ``kpi:read`` scope.

Figures are computed from the ``router.kpi_*`` views; ``since``/``until`` bound the window
(aware ISO-8601 times; open-ended when absent).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router import kpis
from services.router.capacity import backlog_staffing, erlang_staffing
from shared.apikeys import AUTH_RESPONSES, Principal, require_scope

router = APIRouter(prefix="/v1", tags=["kpis"], responses=AUTH_RESPONSES)

Ops = Annotated[Principal, require_scope("kpi:read")]
Since = Annotated[AwareDatetime | None, Query(description="window start (inclusive)")]
Until = Annotated[AwareDatetime | None, Query(description="window end (exclusive)")]


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.runtime.engine
    return engine


@router.get("/kpis/time-to-action", summary="Median, p90, p95 seconds from receipt to decision")
async def time_to_action(
    _: Ops,
    request: Request,
    by: Annotated[
        Literal["policy_area", "dsa_category", "source", "queue", "language", "decided_by"],
        Query(),
    ] = "queue",
    since: Since = None,
    until: Until = None,
) -> list[dict[str, Any]]:
    return await kpis.time_to_action(_engine(request), by, since, until)


@router.get("/kpis/sla", summary="SLA attainment of closed cases and open cases past deadline")
async def sla(
    _: Ops,
    request: Request,
    by: Annotated[Literal["queue", "legal_clock", "policy_area"], Query()] = "queue",
    since: Since = None,
    until: Until = None,
) -> list[dict[str, Any]]:
    return await kpis.sla(_engine(request), by, since, until)


@router.get("/kpis/flow", summary="Arrivals, completions, net flow and backlog per queue and hour")
async def flow(
    _: Ops,
    request: Request,
    queue: Annotated[str | None, Query(max_length=63)] = None,
    since: Since = None,
    until: Until = None,
) -> list[dict[str, Any]]:
    return await kpis.flow(_engine(request), queue, since, until)


@router.get("/kpis/handle-time", summary="Average handle time per queue or reviewer")
async def handle_time(
    _: Ops,
    request: Request,
    by: Annotated[Literal["queue", "reviewer"], Query()] = "queue",
    since: Since = None,
    until: Until = None,
) -> list[dict[str, Any]]:
    return await kpis.handle_time(_engine(request), by, since, until)


@router.get("/kpis/qa", summary="QA accuracy and Cohen's kappa, with the number of pairs")
async def qa(
    _: Ops,
    request: Request,
    by: Annotated[
        Literal["reviewer", "queue", "rule", "policy_version", "model"], Query()
    ] = "reviewer",
    since: Since = None,
    until: Until = None,
) -> list[dict[str, Any]]:
    return await kpis.qa(_engine(request), by, since, until)


@router.get("/kpis/automation", summary="Automation rate and QA-measured precision per area")
async def automation(
    _: Ops, request: Request, since: Since = None, until: Until = None
) -> list[dict[str, Any]]:
    return await kpis.automation(_engine(request), since, until)


@router.get("/kpis/breach-risk", summary="Per queue: time to clear and projected deadline misses")
async def breach_risk(_: Ops, request: Request) -> list[dict[str, Any]]:
    default = request.app.state.runtime.settings.default_handle_seconds
    risks = await kpis.breach_risk(_engine(request), default_aht_seconds=default)
    return [
        {
            **r.__dict__,
            "seconds_to_clear": None if math.isinf(r.seconds_to_clear) else r.seconds_to_clear,
        }
        for r in risks
    ]


class QueuePlan(BaseModel):
    """One queue's forecast and targets for one interval."""

    model_config = ConfigDict(extra="forbid")

    queue: str = Field(min_length=1, max_length=63)
    model: Literal["erlang_c", "backlog"]
    arrivals_per_hour: float = Field(ge=0, le=1e7)
    aht_seconds: float = Field(gt=0, le=86400)
    occupancy_cap: float = Field(default=0.85, gt=0, le=1)
    shrinkage: float = Field(default=0.3, ge=0, lt=1)
    # erlang_c: answer service_level of arrivals within target_seconds.
    target_seconds: float | None = Field(default=None, gt=0, le=86400)
    service_level: float | None = Field(default=None, gt=0, lt=1)
    # backlog: clear the backlog within clearance_hours while taking the inflow.
    backlog: int | None = Field(default=None, ge=0, le=10**9)
    clearance_hours: float | None = Field(default=None, gt=0, le=24 * 365)

    @model_validator(mode="after")
    def _model_fields(self) -> QueuePlan:
        needed = (
            ("target_seconds", "service_level")
            if self.model == "erlang_c"
            else ("backlog", "clearance_hours")
        )
        missing = [f for f in needed if getattr(self, f) is None]
        if missing:
            raise ValueError(f"model {self.model} needs {', '.join(missing)}")
        return self


class CapacityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queues: list[QueuePlan] = Field(min_length=1, max_length=500)


def staffing_row(plan: QueuePlan) -> dict[str, Any]:
    """The staffing one queue plan needs (shared by the API and the ``staffing`` command)."""
    if plan.model == "erlang_c":
        assert plan.target_seconds is not None and plan.service_level is not None
        s = erlang_staffing(
            arrivals_per_hour=plan.arrivals_per_hour,
            aht_seconds=plan.aht_seconds,
            target_seconds=plan.target_seconds,
            service_level_target=plan.service_level,
            occupancy_cap=plan.occupancy_cap,
            shrinkage=plan.shrinkage,
        )
    else:
        assert plan.backlog is not None and plan.clearance_hours is not None
        s = backlog_staffing(
            arrivals_per_hour=plan.arrivals_per_hour,
            backlog=plan.backlog,
            clearance_hours=plan.clearance_hours,
            aht_seconds=plan.aht_seconds,
            occupancy_cap=plan.occupancy_cap,
            shrinkage=plan.shrinkage,
        )
    return {"queue": plan.queue, **s.__dict__}


@router.post("/capacity/plan", summary="Reviewers needed per queue (Erlang C or backlog model)")
async def capacity_plan(_: Ops, body: CapacityRequest) -> list[dict[str, Any]]:
    return [staffing_row(q) for q in body.queues]

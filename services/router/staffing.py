"""Staffing table per site and shift: ``python -m services.router staffing PLAN.yaml``.

The plan file names the sites (each takes a share of every queue's arrivals, and works shifts
given by start and end hour, UTC) and the queues (model, handle time, targets). A queue without
``arrivals_per_hour`` is forecast hour by hour from the database (``forecast.py``). A shift
needs, for each queue, the most reviewers any of its hours needs; ``planned`` (optional, per
site and shift) is printed beside the need.

```yaml
sites:
  - name: dublin
    share: 0.6
    shifts:
      - {name: early, start: 6, end: 14, planned: 12}
      - {name: late, start: 14, end: 22}
queues:
  - {queue: harassment, model: backlog, aht_seconds: 420, clearance_hours: 4}
  - {queue: live-chat, model: erlang_c, aht_seconds: 180, target_seconds: 60,
     service_level: 0.8, arrivals_per_hour: 120}
```
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.capacity import Staffing, backlog_staffing, erlang_staffing
from services.router.forecast import forecast_queue
from shared.config import ServiceSettings
from shared.db import create_engine
from shared.events import utcnow


class _Strict(BaseModel):
    # Strict: a number is a JSON number (never a boolean or text), as the document says.
    model_config = ConfigDict(extra="forbid", strict=True)


class Shift(_Strict):
    name: str = Field(min_length=1, max_length=64)
    start: int = Field(ge=0, le=23, description="first hour (UTC)")
    end: int = Field(ge=0, le=24, description="hour it ends (UTC); before start: overnight")
    planned: int | None = Field(default=None, ge=0, description="reviewers rostered")

    def hours(self) -> list[int]:
        end = self.end if self.end > self.start else self.end + 24
        return [h % 24 for h in range(self.start, end)]


class Site(_Strict):
    name: str = Field(min_length=1, max_length=64)
    share: float = Field(gt=0, le=1, description="share of every queue's arrivals")
    shifts: list[Shift] = Field(min_length=1)


class QueueTargets(_Strict):
    queue: str = Field(min_length=1, max_length=63)
    model: Literal["erlang_c", "backlog"]
    # Bounds keep every figure finite: seats = load / occupancy, FTE = seats / (1 - shrinkage).
    aht_seconds: float = Field(ge=1, le=86400)
    arrivals_per_hour: float | None = Field(default=None, ge=0, le=1e7)
    occupancy_cap: float = Field(default=0.85, ge=0.05, le=1)
    shrinkage: float = Field(default=0.3, ge=0, le=0.95)
    # Defaults: the contact-centre convention of 80 % answered within 20 s for Erlang C, and
    # a backlog cleared within one 8-hour shift for the backlog model.
    target_seconds: float = Field(
        default=20, ge=1, le=7 * 86400, description="Erlang C: answer within this many seconds"
    )
    service_level: float = Field(
        default=0.8,
        ge=0.01,
        le=0.999,
        description="Erlang C: share answered within target_seconds",
    )
    clearance_hours: float = Field(
        default=8, ge=0.01, le=24 * 365, description="backlog model: hours to clear the backlog in"
    )


class StaffingPlan(_Strict):
    sites: list[Site] = Field(min_length=1)
    queues: list[QueueTargets] = Field(min_length=1)
    history_days: int = Field(default=28, ge=1, le=365)


def staffing_for(q: QueueTargets, arrivals: float, backlog: float) -> Staffing:
    """What one queue needs for one interval at ``arrivals`` an hour with ``backlog`` waiting."""
    if q.model == "erlang_c":
        s = erlang_staffing(
            arrivals_per_hour=arrivals,
            aht_seconds=q.aht_seconds,
            target_seconds=q.target_seconds,
            service_level_target=q.service_level,
            occupancy_cap=q.occupancy_cap,
            shrinkage=q.shrinkage,
        )
    else:
        s = backlog_staffing(
            arrivals_per_hour=arrivals,
            backlog=round(backlog),
            clearance_hours=q.clearance_hours,
            aht_seconds=q.aht_seconds,
            occupancy_cap=q.occupancy_cap,
            shrinkage=q.shrinkage,
        )
    return s


def seats_for(q: QueueTargets, arrivals: float, backlog: float) -> tuple[int, float]:
    s = staffing_for(q, arrivals, backlog)
    return s.seats, s.fte


def staffing_table(
    plan: StaffingPlan, arrivals: dict[str, list[float]], backlog: dict[str, int]
) -> list[dict[str, Any]]:
    """One row per site, shift and queue: peak arrivals, seats and FTE needed, and the plan.

    ``arrivals[queue]`` holds 24 hourly rates indexed by UTC hour.
    """
    rows = []
    for site in plan.sites:
        for shift in site.shifts:
            for q in plan.queues:
                needs = [
                    (
                        arrivals[q.queue][h] * site.share,
                        *seats_for(
                            q, arrivals[q.queue][h] * site.share, backlog[q.queue] * site.share
                        ),
                    )
                    for h in shift.hours()
                ]
                peak = max(needs, key=lambda n: (n[1], n[2]))
                rows.append(
                    {
                        "site": site.name,
                        "shift": shift.name,
                        "queue": q.queue,
                        "peak_arrivals_per_hour": round(max(n[0] for n in needs), 2),
                        "seats": peak[1],
                        "fte": peak[2],
                        "planned": shift.planned,
                    }
                )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table, a total line per site and shift."""
    header = ["site", "shift", "queue", "peak/h", "seats", "fte", "planned"]
    lines: list[list[str]] = [header]
    totals: dict[tuple[str, str], tuple[int, float, int | None]] = {}
    for r in rows:
        lines.append(
            [
                r["site"],
                r["shift"],
                r["queue"],
                f"{r['peak_arrivals_per_hour']:.1f}",
                str(r["seats"]),
                f"{r['fte']:.2f}",
                "" if r["planned"] is None else str(r["planned"]),
            ]
        )
        seats, fte, planned = totals.get((r["site"], r["shift"]), (0, 0.0, r["planned"]))
        totals[(r["site"], r["shift"])] = (seats + r["seats"], fte + r["fte"], planned)
    for (site, shift), (seats, fte, planned) in totals.items():
        gap = "" if planned is None else f"{planned} ({planned - seats:+d})"
        lines.append([site, shift, "ALL", "", str(seats), f"{fte:.2f}", gap])
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in lines
    )


async def _inputs(
    engine: AsyncEngine, plan: StaffingPlan, now: datetime
) -> tuple[dict[str, list[float]], dict[str, int]]:
    arrivals: dict[str, list[float]] = {}
    for q in plan.queues:
        if q.arrivals_per_hour is not None:
            arrivals[q.queue] = [q.arrivals_per_hour] * 24
            continue
        hours = await forecast_queue(engine, q.queue, now=now, days=plan.history_days, horizon=24)
        by_hour = [0.0] * 24
        for h in hours:
            by_hour[datetime.fromisoformat(h["hour"]).hour] = h["arrivals"]
        arrivals[q.queue] = by_hour
    sql = text(
        "SELECT queue, count(*) AS n FROM router.cases "
        "WHERE status <> 'decided' AND queue = ANY(:queues) GROUP BY queue"
    )
    async with engine.connect() as conn:
        open_ = {
            r.queue: r.n
            for r in await conn.execute(sql, {"queues": [q.queue for q in plan.queues]})
        }
    return arrivals, {q.queue: open_.get(q.queue, 0) for q in plan.queues}


def load_plan(path: Path) -> StaffingPlan:
    return StaffingPlan.model_validate(yaml.safe_load(path.read_text()))


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("plan", type=Path, help="the staffing plan file (YAML)")


def _run(settings: ServiceSettings, args: argparse.Namespace) -> int:
    try:
        plan = load_plan(args.plan)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        print(f"{args.plan}: invalid staffing plan:\n{exc}", file=sys.stderr)
        return 1

    async def main() -> list[dict[str, Any]]:
        engine = create_engine(settings)
        try:
            arrivals, backlog = await _inputs(engine, plan, utcnow())
        finally:
            await engine.dispose()
        return staffing_table(plan, arrivals, backlog)

    try:
        rows = asyncio.run(main())
    except ValueError as exc:
        print(f"{args.plan}: {exc}", file=sys.stderr)
        return 1
    print(format_table(rows))
    return 0


COMMAND = ("print reviewers needed per site, shift and queue", _run, _configure)

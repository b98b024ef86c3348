"""Feeds report status back from downstream topics, and assesses reporters for misuse.

One consumer (intake's own group) reads ``ReportClassified``, ``ReportRouted`` and
``DecisionMade``. The topics are read concurrently, so events about one report can arrive out of
order: each status has a rank and a report's status only ever moves up. Decisions that find a
notice manifestly unfounded trigger the DSA Art. 23 assessment of its reporter.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, ValidationError
from sqlalchemy import (
    ARRAY,
    Boolean,
    DateTime,
    SmallInteger,
    Text,
    and_,
    bindparam,
    cast,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.intake.metrics import MISUSE_MEASURES
from services.intake.misuse import Counts, Measure, Thresholds, assess
from services.intake.models import misuse_events, report_progress, reporter_standing, reports
from services.intake.registry import Registry, Standing
from shared.errors import PoisonMessageError
from shared.events import ActionType, DecidedBy, Event, Outcome, RouteKind, utcnow
from shared.events.envelope import Model
from shared.kafka.consumer import HandlerContext
from shared.taxonomy import PolicyArea

RANK = {"received": 0, "classified": 1, "routed": 2, "in_review": 2, "decided": 3}


# What intake reads of each downstream payload, and no more: the consumer validates these slim
# models straight from the message bytes (``ProgressEvent.from_bytes``), so the report and the
# classification a ``ReportClassified`` carries are skipped by the JSON parser instead of being
# built and validated as Python objects on the loop that also serves HTTP.
class _ReportRef(Model):
    report_id: uuid.UUID


class _Classified(Model):
    report: _ReportRef


class _Routed(Model):
    report_id: uuid.UUID
    route: RouteKind
    case_id: uuid.UUID | None = None
    queue: str | None = None
    routed_at: AwareDatetime


class _Decided(Model):
    decision_id: uuid.UUID
    report_id: uuid.UUID
    policy_area: PolicyArea
    outcome: Outcome
    action: ActionType | None = None
    decided_by: DecidedBy
    decided_at: AwareDatetime
    case_id: uuid.UUID | None = None
    report_ids: list[uuid.UUID] = Field(default_factory=list)
    manifestly_unfounded: bool = False


class ProgressEvent(Event):
    """A downstream event as intake reads it: the envelope and the slim payload."""

    # Tried in order (their required fields tell them apart): cheaper than the smart mode.
    payload: _Classified | _Routed | _Decided | None = Field(
        default=None, union_mode="left_to_right"
    )


_PAYLOADS: dict[str, type[BaseModel]] = {
    "ReportClassified": _Classified,
    "ReportRouted": _Routed,
    "DecisionMade": _Decided,
}


@dataclass(slots=True)
class Progress:
    report_id: uuid.UUID
    status: str
    at: datetime
    queue: str | None = None
    case_id: uuid.UUID | None = None
    outcome: dict[str, Any] | None = None
    manifestly_unfounded: bool = False

    @property
    def rank(self) -> int:
        return RANK[self.status]


def progress_of(event: Event) -> list[Progress]:
    """What one downstream event says about the reports it concerns (PoisonMessageError if bad)."""
    model = _PAYLOADS.get(event.event_type)
    if model is None:
        raise PoisonMessageError(f"unexpected event type {event.event_type!r}")
    payload = event.payload
    if not isinstance(payload, model):
        try:
            payload = model.model_validate(payload, extra="ignore")
        except ValidationError as exc:
            raise PoisonMessageError(f"invalid {event.event_type}: {exc}") from exc
    if isinstance(payload, _Classified):
        return [Progress(payload.report.report_id, "classified", event.occurred_at)]
    if isinstance(payload, _Routed):
        review = payload.route is RouteKind.REVIEW
        return [
            Progress(
                payload.report_id,
                "in_review" if review else "routed",
                payload.routed_at,
                queue=payload.queue if review else None,
                case_id=payload.case_id,
            )
        ]
    assert isinstance(payload, _Decided)
    outcome = {
        "outcome": payload.outcome.value,
        "action": payload.action.value if payload.action else None,
        "policy_area": payload.policy_area.value,
        "automated": payload.decided_by is DecidedBy.AUTOMATED,
        "decided_at": payload.decided_at.isoformat(),
        "decision_id": str(payload.decision_id),
    }
    return [
        Progress(
            rid,
            "decided",
            payload.decided_at,
            case_id=payload.case_id,
            outcome=outcome,
            manifestly_unfounded=payload.manifestly_unfounded,
        )
        for rid in (payload.report_ids or [payload.report_id])
    ]


def latest_per_report(items: list[Progress]) -> list[Progress]:
    """One update per report: the highest status, the latest among equals."""
    best: dict[uuid.UUID, Progress] = {}
    for p in items:
        cur = best.get(p.report_id)
        if cur is None or (p.rank, p.at) > (cur.rank, cur.at):
            best[p.report_id] = p
    return list(best.values())


def _upsert_progress() -> Any:
    """One statement for a whole batch: a column of values per array parameter, unnested, so
    the driver sends eight arrays instead of eight parameters per row."""
    t = report_progress
    cols: list[tuple[str, Any]] = [
        ("report_id", UUID(as_uuid=True)),
        ("status", Text),
        ("status_rank", SmallInteger),
        ("queue", Text),
        ("case_id", UUID(as_uuid=True)),
        ("outcome", Text),
        ("manifestly_unfounded", Boolean),
        ("updated_at", DateTime(timezone=True)),
    ]
    values: list[Any] = [func.unnest(bindparam(name, type_=ARRAY(type_))) for name, type_ in cols]
    values[5] = cast(values[5], JSONB)  # outcome travels as JSON text
    stmt = insert(t).from_select([name for name, _ in cols], select(*values))
    ex = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[t.c.report_id],
        set_={
            "status": ex.status,
            "status_rank": ex.status_rank,
            "queue": ex.queue,
            "case_id": func.coalesce(ex.case_id, t.c.case_id),
            "outcome": ex.outcome,
            "manifestly_unfounded": ex.manifestly_unfounded,
            "updated_at": ex.updated_at,
        },
        # Never backwards; a later decision (an appeal's) replaces an earlier one.
        where=or_(
            t.c.status_rank < ex.status_rank,
            and_(
                t.c.status_rank == RANK["decided"],
                ex.status_rank == RANK["decided"],
                t.c.updated_at < ex.updated_at,
            ),
        ),
    )


def _columns(updates: list[Progress]) -> dict[str, list[Any]]:
    return {
        "report_id": [u.report_id for u in updates],
        "status": [u.status for u in updates],
        "status_rank": [u.rank for u in updates],
        "queue": [u.queue for u in updates],
        "case_id": [u.case_id for u in updates],
        "outcome": [None if u.outcome is None else json.dumps(u.outcome) for u in updates],
        "manifestly_unfounded": [u.manifestly_unfounded for u in updates],
        "updated_at": [u.at for u in updates],
    }


class ProgressHandler:
    """The batch handler for the downstream topics; returns no events."""

    __name__ = "report_progress"

    def __init__(self, registry: Registry, thresholds: Thresholds, service: str) -> None:
        self.registry = registry
        self.thresholds = thresholds
        self.service = service
        self._upsert = _upsert_progress()

    async def __call__(self, events: list[ProgressEvent], ctx: HandlerContext) -> Sequence[Event]:
        assert ctx.conn is not None
        items = [p for e in events for p in progress_of(e)]
        updates = latest_per_report(items)
        if updates:
            await ctx.conn.execute(self._upsert, _columns(updates))
        unfounded = [p.report_id for p in items if p.manifestly_unfounded]
        if unfounded:
            await self._assess(ctx.conn, unfounded)
        return []

    async def _assess(self, conn: AsyncConnection, report_ids: list[uuid.UUID]) -> None:
        now = utcnow()
        th = self.thresholds
        who = (
            select(reports.c.client_id, reports.c.reporter_id)
            .where(reports.c.report_id.in_(report_ids), reports.c.reporter_id.is_not(None))
            .distinct()
        )
        pairs = [(r.client_id, r.reporter_id) for r in await conn.execute(who)]
        if not pairs:
            return
        counted = await conn.execute(
            select(
                reports.c.client_id,
                reports.c.reporter_id,
                func.count().label("notices"),
                func.count().filter(report_progress.c.manifestly_unfounded).label("unfounded"),
            )
            .select_from(
                reports.outerjoin(
                    report_progress, report_progress.c.report_id == reports.c.report_id
                )
            )
            .where(
                tuple_(reports.c.client_id, reports.c.reporter_id).in_(pairs),
                reports.c.received_at >= now - th.window,
            )
            .group_by(reports.c.client_id, reports.c.reporter_id)
        )
        counts = {(r.client_id, r.reporter_id): Counts(r.notices, r.unfounded) for r in counted}
        st = reporter_standing
        current = {
            (r.client_id, r.reporter_id): r
            for r in await conn.execute(
                select(st)
                .where(tuple_(st.c.client_id, st.c.reporter_id).in_(pairs))
                .with_for_update()
            )
        }
        standing_rows: list[dict[str, Any]] = []
        measures: list[dict[str, Any]] = []
        for client_id, reporter_id in pairs:
            c = counts.get((client_id, reporter_id), Counts(0, 0))
            row = current.get((client_id, reporter_id))
            warned_at = row.warned_at if row is not None else None
            held_until = row.held_until if row is not None else None
            measure = assess(c, warned_at=warned_at, held_until=held_until, now=now, th=th)
            until = None
            if measure is Measure.WARNING:
                warned_at = now
            elif measure is Measure.SUSPENSION:
                held_until = until = now + th.hold
            if measure is not Measure.NONE:
                measures.append(
                    {
                        "client_id": client_id,
                        "reporter_id": reporter_id,
                        "kind": measure.value,
                        "at": now,
                        "until": until,
                        "notices": c.notices,
                        "unfounded": c.unfounded,
                    }
                )
                MISUSE_MEASURES.labels(self.service, measure.value).inc()
            standing_rows.append(
                {
                    "client_id": client_id,
                    "reporter_id": reporter_id,
                    "notices": c.notices,
                    "unfounded": c.unfounded,
                    "warned_at": warned_at,
                    "held_until": held_until,
                    "updated_at": now,
                }
            )
            if warned_at is not None or held_until is not None:
                self.registry.set_standing(client_id, reporter_id, Standing(warned_at, held_until))
        stmt = insert(st)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[st.c.client_id, st.c.reporter_id],
                set_={
                    "notices": stmt.excluded.notices,
                    "unfounded": stmt.excluded.unfounded,
                    "warned_at": stmt.excluded.warned_at,
                    "held_until": stmt.excluded.held_until,
                    "updated_at": stmt.excluded.updated_at,
                },
            ),
            standing_rows,
        )
        if measures:
            await conn.execute(misuse_events.insert(), measures)


def thresholds_from(
    window_days: int, min_unfounded: int, share: float, hold_hours: float
) -> Thresholds:
    return Thresholds(
        window=timedelta(days=window_days),
        min_unfounded=min_unfounded,
        share=share,
        hold=timedelta(hours=hold_hours),
    )

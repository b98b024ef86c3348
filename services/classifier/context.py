"""Context around a report: reporter reputation, trusted flagger, report velocity, subject history.

State lives in the classifier's schema: a record per classified report (written in the batch's
transaction) and the outcomes of decisions (consumed from ``tns.decisions.v1``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ARRAY, Text, any_, bindparam, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.classifier.models import (
    report_outcomes,
    report_records,
    reporter_stats,
    subject_actions,
)
from shared.events import (
    ActionType,
    DecisionMade,
    Outcome,
    PriorAction,
    Report,
    ReportContext,
    Source,
    utcnow,
)
from shared.kafka.consumer import HandlerContext
from shared.taxonomy import PolicyArea

MAX_PRIOR_ACTIONS = 10


def _any(name: str, values: list[str]) -> Any:
    # One array parameter instead of an IN list: the statement compiles once and is cached,
    # where an IN of 500 values is compiled afresh for every batch.
    return any_(bindparam(name, values, type_=ARRAY(Text)))


def reputation(notices: int, actioned: int, a: float, b: float) -> float:
    """Posterior mean of a Beta(a, b) prior after ``actioned`` of ``notices`` led to action.

    With a = b the first notice starts at 0.5 and a handful of notices move it only a little,
    so one lucky or unlucky report does not make a reporter.
    """
    return (actioned + a) / (notices + a + b)


@dataclass(frozen=True, slots=True)
class ContextSettings:
    prior_a: float
    prior_b: float
    velocity_window: timedelta
    text_max_chars: int


_RECORD_COLUMNS = (
    "report_id",
    "reporter_id",
    "subject_id",
    "owner_account_id",
    "policy_area",
    "received_at",
    "text",
)
# One statement with one array per column: asyncpg encodes the arrays in C, where an
# executemany of 500 rows spends most of its time building per-row parameters in Python.
_RECORD_INSERT = text(
    f"INSERT INTO {report_records.fullname} ({', '.join(_RECORD_COLUMNS)}) "
    "SELECT * FROM unnest(CAST(:report_id AS uuid[]), CAST(:reporter_id AS text[]), "
    "CAST(:subject_id AS text[]), CAST(:owner_account_id AS text[]), "
    "CAST(:policy_area AS text[]), CAST(:received_at AS timestamptz[]), CAST(:text AS text[])) "
    "ON CONFLICT (report_id) DO NOTHING"
)


async def record_reports(
    conn: AsyncConnection, reports: Sequence[Report], text_max_chars: int
) -> None:
    """One batched insert of the reports' records; a replayed report is skipped."""
    if not reports:
        return
    await conn.execute(
        _RECORD_INSERT,
        {
            "report_id": [r.report_id for r in reports],
            "reporter_id": [r.reporter_id for r in reports],
            "subject_id": [r.subject.subject_id for r in reports],
            "owner_account_id": [r.subject.owner_account_id for r in reports],
            "policy_area": [r.policy_area.value for r in reports],
            "received_at": [r.received_at for r in reports],
            "text": [r.normalised_text[:text_max_chars] for r in reports],
        },
    )


async def load_context(
    conn: AsyncConnection, reports: Sequence[Report], settings: ContextSettings
) -> list[ReportContext]:
    """The context of each report, with three queries for the whole batch."""
    reporters = sorted({r.reporter_id for r in reports if r.reporter_id})
    subjects = sorted({r.subject.subject_id for r in reports})
    owners = sorted({o for r in reports if (o := r.subject.owner_account_id)})

    stats: dict[str, tuple[int, int]] = {}
    if reporters:
        rows = await conn.execute(
            select(
                reporter_stats.c.reporter_id, reporter_stats.c.notices, reporter_stats.c.actioned
            ).where(reporter_stats.c.reporter_id == _any("reporters", reporters))
        )
        stats = {r.reporter_id: (r.notices, r.actioned) for r in rows}

    since = utcnow() - settings.velocity_window
    velocity_rows = await conn.execute(
        select(report_records.c.subject_id, func.count(report_records.c.reporter_id.distinct()))
        .where(
            report_records.c.subject_id == _any("subjects", subjects),
            report_records.c.received_at >= since,
        )
        .group_by(report_records.c.subject_id)
    )
    velocity = {row[0]: int(row[1]) for row in velocity_rows}

    by_subject: dict[str, list[PriorAction]] = defaultdict(list)
    by_owner: dict[str, list[PriorAction]] = defaultdict(list)
    conds = [subject_actions.c.subject_id == _any("subjects", subjects)]
    if owners:
        conds.append(subject_actions.c.owner_account_id == _any("owners", owners))
    history = await conn.execute(
        select(subject_actions).where(or_(*conds)).order_by(subject_actions.c.decided_at.desc())
    )
    for row in history:
        prior = PriorAction(
            action=ActionType(row.action),
            policy_area=PolicyArea(row.policy_area),
            decided_at=row.decided_at,
        )
        by_subject[row.subject_id].append(prior)
        if row.owner_account_id:
            by_owner[row.owner_account_id].append(prior)

    out = []
    # Most reports of a batch share a context (a new reporter, no history): each distinct
    # one is validated once and shared, as the model is frozen.
    shared: dict[tuple[int, int, bool, int], ReportContext] = {}
    history_known = bool(by_subject or by_owner)
    for r in reports:
        notices, actioned = stats.get(r.reporter_id or "", (0, 0))
        trusted = r.source is Source.TRUSTED_FLAGGER
        subject = r.subject
        distinct = max(1, velocity.get(subject.subject_id, 0))
        seen: dict[tuple[ActionType, PolicyArea, object], PriorAction] = {}
        if history_known:
            for prior in [
                *by_subject.get(subject.subject_id, ()),
                *by_owner.get(subject.owner_account_id or "", ()),
            ]:
                seen.setdefault((prior.action, prior.policy_area, prior.decided_at), prior)
        key = (notices, actioned, trusted, distinct)
        context = shared.get(key) if not seen else None
        if context is None:
            context = ReportContext(
                reporter_reputation=round(
                    reputation(notices, actioned, settings.prior_a, settings.prior_b), 4
                ),
                reporter_notices=notices,
                trusted_flagger=trusted,
                distinct_reporters=distinct,
                prior_actions=list(seen.values())[:MAX_PRIOR_ACTIONS],
            )
            if not seen:
                shared[key] = context
        out.append(context)
    return out


class DecisionHandler:
    """Consumes ``DecisionMade``: report outcomes, reporter statistics, subject history.

    Idempotent: outcomes are upserted by report id, reporter statistics recomputed from them,
    actions keyed by decision id; an appeal that overturns an action removes it from history.
    """

    __name__ = "decisions"

    async def __call__(self, events: list[DecisionMade], ctx: HandlerContext) -> list[DecisionMade]:
        assert ctx.conn is not None
        conn = ctx.conn
        outcomes: dict[object, dict[str, object]] = {}
        actions: list[dict[str, object]] = []
        reversed_ids: list[object] = []
        for event in events:
            d = event.payload
            for report_id in d.report_ids or [d.report_id]:
                outcomes[report_id] = {
                    "report_id": report_id,
                    "decision_id": d.decision_id,
                    "outcome": d.outcome.value,
                    "policy_area": d.policy_area.value,
                    "action": d.action.value if d.action else None,
                    "decided_at": d.decided_at,
                }
            if d.outcome is Outcome.ACTION and d.action is not None:
                actions.append(
                    {
                        "decision_id": d.decision_id,
                        "subject_id": d.subject.subject_id,
                        "owner_account_id": d.subject.owner_account_id,
                        "action": d.action.value,
                        "policy_area": d.policy_area.value,
                        "decided_at": d.decided_at,
                    }
                )
            if d.appeal is not None and d.outcome is Outcome.NO_ACTION:
                reversed_ids.append(d.appeal.decision_id)
        if outcomes:
            stmt = insert(report_outcomes)
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["report_id"],
                    set_={
                        c: stmt.excluded[c]
                        for c in ("decision_id", "outcome", "policy_area", "action", "decided_at")
                    },
                    where=report_outcomes.c.decided_at <= stmt.excluded.decided_at,
                ),
                list(outcomes.values()),
            )
            await self._recompute_reporters(conn, list(outcomes))
        if actions:
            await conn.execute(
                insert(subject_actions).on_conflict_do_nothing(index_elements=["decision_id"]),
                actions,
            )
        if reversed_ids:
            await conn.execute(
                subject_actions.delete().where(subject_actions.c.decision_id.in_(reversed_ids))
            )
        return []

    async def _recompute_reporters(self, conn: AsyncConnection, report_ids: list[object]) -> None:
        reporters = (
            select(report_records.c.reporter_id)
            .distinct()
            .where(
                report_records.c.report_id.in_(report_ids),
                report_records.c.reporter_id.is_not(None),
            )
        )
        totals = (
            select(
                report_records.c.reporter_id,
                func.count().label("notices"),
                func.count()
                .filter(report_outcomes.c.outcome == Outcome.ACTION.value)
                .label("actioned"),
                func.now().label("updated_at"),
            )
            .select_from(
                report_records.join(
                    report_outcomes, report_outcomes.c.report_id == report_records.c.report_id
                )
            )
            .where(report_records.c.reporter_id.in_(reporters))
            .group_by(report_records.c.reporter_id)
        )
        stmt = insert(reporter_stats).from_select(
            ["reporter_id", "notices", "actioned", "updated_at"], totals
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["reporter_id"],
                set_={
                    "notices": stmt.excluded.notices,
                    "actioned": stmt.excluded.actioned,
                    "updated_at": stmt.excluded.updated_at,
                },
            )
        )


async def prune_records(conn: AsyncConnection, retention: timedelta) -> int:
    """Delete report records older than ``retention`` (their text included); returns how many."""
    result = await conn.execute(
        report_records.delete().where(report_records.c.received_at < utcnow() - retention)
    )
    return int(result.rowcount or 0)

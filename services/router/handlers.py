"""The router's batch handlers: route classified reports; open cases for appeals.

Routing one batch, in its one transaction: apply the live policy (and the circuit breaker) and
every shadow policy; record the routings and shadow outcomes; publish automated decisions; link
reports needing review to the open case of their subject and policy area (or open one); sample
decisions into QA; publish the cases' current review tasks and a ``ReportRouted`` per report.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router.breaker import CircuitBreaker
from services.router.cases import linked_reports, new_case, qa_case, task_events
from services.router.metrics import CIRCUIT_DIVERTED, ROUTED, ROUTED_BY_SOURCE, SHADOW_OUTCOMES
from services.router.models import case_reports, cases, routings, shadow_outcomes
from services.router.policy import (
    Policy,
    Route,
    priority,
    route,
    sampled,
    source_label,
    source_rank,
    to_review,
)
from shared.events import (
    Actor,
    AppealLodged,
    ClassifiedReport,
    DecidedBy,
    Decision,
    DecisionMade,
    Event,
    Outcome,
    ReportClassified,
    ReportRouted,
    RouteKind,
    Routing,
    Source,
    derive_id,
    utcnow,
)
from shared.kafka.consumer import HandlerContext
from shared.taxonomy import POLICY_AREAS, dsa_category

CIRCUIT_BREAKER_REASON = "circuit breaker"
_ROUTE_KIND = {
    "action": RouteKind.AUTOMATED_ACTION,
    "dismiss": RouteKind.DISMISSED,
    "review": RouteKind.REVIEW,
}


@dataclass(slots=True)
class _Planned:
    event: ReportClassified
    live: Route
    shadows: list[tuple[str, Route]]
    case_id: uuid.UUID | None = None


def _same_outcome(a: Route, b: Route) -> bool:
    if a.kind != b.kind:
        return False
    return a.action == b.action if a.kind == "action" else True


class RouteHandler:
    __name__ = "route"

    def __init__(
        self, policy: Policy, breaker: CircuitBreaker, shadows: Sequence[Policy] = ()
    ) -> None:
        self.policy = policy
        self.breaker = breaker
        self.shadows = list(shadows)

    def plan(self, event: ReportClassified) -> _Planned:
        """Live and shadow routes of one report; the breaker may turn an action into a review."""
        report = event.payload.report
        c = event.payload.classification
        live = route(self.policy, report, c)
        self.breaker.observe_signals((s.name, s.policy_area) for s in c.signals if not s.shadow)
        if live.kind == "action" and not self.breaker.allow_action(live.policy_area):
            CIRCUIT_DIVERTED.labels(live.policy_area.value).inc()
            live = to_review(live, CIRCUIT_BREAKER_REASON)
        shadows = [(p.version, route(p, report, c)) for p in self.shadows]
        return _Planned(event, live, shadows)

    async def __call__(self, events: list[ReportClassified], ctx: HandlerContext) -> list[Event]:
        assert ctx.conn is not None
        conn = ctx.conn
        now = utcnow()
        plans = [self.plan(e) for e in events]
        # The report id is the natural key: a report re-classified after a crash upstream
        # (a new event id) is still routed once.
        result = await conn.execute(
            insert(routings)
            .on_conflict_do_nothing(index_elements=["report_id"])
            .returning(routings.c.report_id),
            [self._routing_row(p, now) for p in plans],
        )
        fresh = set(result.scalars())
        plans = [p for p in plans if p.event.payload.report.report_id in fresh]
        if not plans:
            return []
        await self._record_shadows(conn, plans, now)
        out: list[Event] = []
        qa_rows: list[dict[str, Any]] = []
        for p in plans:
            ROUTED.labels(p.live.policy_area.value, p.live.kind).inc()
            ROUTED_BY_SOURCE.labels(source_label(p.event.payload.report), p.live.kind).inc()
            if p.live.kind != "review":
                decision = self._automated_decision(p, now)
                out.append(decision)
                qa = self._maybe_qa(p, decision.payload, now)
                if qa is not None:
                    qa_rows.append(qa)
        out.extend(await self._link_cases(conn, [p for p in plans if p.live.kind == "review"], now))
        if qa_rows:
            await conn.execute(insert(cases).on_conflict_do_nothing(), qa_rows)
            await conn.execute(
                insert(case_reports).on_conflict_do_nothing(),
                [
                    {"case_id": r["case_id"], "report_id": r["first_report_id"], "linked_at": now}
                    for r in qa_rows
                ],
            )
            out.extend(await task_events(conn, qa_rows))
        out.extend(self._routed_event(p, now) for p in plans)
        return out

    def _routing_row(self, p: _Planned, now: datetime) -> dict[str, Any]:
        report = p.event.payload.report
        r = p.live
        review = r.kind == "review"
        return {
            "report_id": report.report_id,
            "subject_id": report.subject.subject_id,
            "policy_area": r.policy_area.value,
            "tier": r.tier.value,
            "outcome": r.kind,
            "score": r.score,
            "queue": r.queue if review else None,
            "priority": r.priority if review else None,
            "deadline": r.deadline if review else None,
            "policy_version": self.policy.version,
            "received_at": report.received_at,
            "routed_at": now,
            "reason": r.reason,
            "payload": p.event.payload.model_dump(mode="json"),
        }

    async def _record_shadows(
        self, conn: AsyncConnection, plans: list[_Planned], now: datetime
    ) -> None:
        rows = []
        for p in plans:
            for version, s in p.shadows:
                agree = _same_outcome(p.live, s)
                SHADOW_OUTCOMES.labels(version, "agree" if agree else "disagree").inc()
                rows.append(
                    {
                        "report_id": p.event.payload.report.report_id,
                        "shadow_version": version,
                        "live_version": self.policy.version,
                        "policy_area": p.live.policy_area.value,
                        "live_outcome": p.live.kind,
                        "shadow_outcome": s.kind,
                        "live_queue": p.live.queue if p.live.kind == "review" else None,
                        "shadow_queue": s.queue if s.kind == "review" else None,
                        "score": p.live.score,
                        "recorded_at": now,
                    }
                )
        if rows:
            await conn.execute(insert(shadow_outcomes).on_conflict_do_nothing(), rows)

    def _automated_decision(self, p: _Planned, now: datetime) -> DecisionMade:
        report = p.event.payload.report
        classification = p.event.payload.classification
        r = p.live
        decision_id = derive_id("decision", report.report_id)
        return DecisionMade(
            event_id=derive_id("event", decision_id),
            producer="router",
            correlation_id=p.event.correlation_id,
            causation_id=p.event.event_id,
            payload=Decision(
                decision_id=decision_id,
                report_id=report.report_id,
                subject=report.subject,
                policy_area=r.policy_area,
                dsa_category=dsa_category(r.policy_area),
                source=report.source,
                outcome=Outcome.ACTION if r.kind == "action" else Outcome.NO_ACTION,
                action=r.action if r.kind == "action" else None,
                decided_by=DecidedBy.AUTOMATED,
                actor=Actor(
                    kind="policy",
                    actor_id=f"router:{self.policy.version}",
                    versions={**classification.versions, "policy": self.policy.version},
                ),
                reason=r.reason,
                score=r.score,
                decided_at=now,
                report_ids=[report.report_id],
                automated_detection=report.source == Source.AUTOMATED_DETECTION,
                client_id=report.client_id,
                source_kind=report.source_kind,
                received_at=report.received_at,
            ),
        )

    def _maybe_qa(self, p: _Planned, d: Decision, now: datetime) -> dict[str, Any] | None:
        if not sampled(self.policy.qa.automated_share, "qa", d.decision_id):
            return None
        return qa_case(
            self.policy,
            decision_id=d.decision_id,
            subject=d.subject,
            source=d.source,
            area=d.policy_area,
            first_report_id=d.report_id,
            decided_by=DecidedBy.AUTOMATED.value,
            actor=d.actor.actor_id,
            outcome=d.outcome.value,
            action=d.action.value if d.action else None,
            policy_version=self.policy.version,
            model_versions=p.event.payload.classification.versions,
            excluded=[],
            now=now,
        )

    async def _link_cases(
        self, conn: AsyncConnection, plans: list[_Planned], now: datetime
    ) -> list[Event]:
        """Link each report to the open case of its subject and area, opening one if none."""
        if not plans:
            return []
        keys = {
            (p.event.payload.report.subject.subject_id, p.live.policy_area.value) for p in plans
        }
        existing = await conn.execute(
            select(cases)
            .where(
                cases.c.kind == "report",
                cases.c.status != "decided",
                tuple_(cases.c.subject_id, cases.c.policy_area).in_(list(keys)),
            )
            .with_for_update()
        )
        by_key: dict[tuple[str, str], dict[str, Any]] = {
            (row.subject_id, row.policy_area): dict(row._mapping) for row in existing
        }
        created: dict[uuid.UUID, dict[str, Any]] = {}
        changed: dict[uuid.UUID, dict[str, Any]] = {}
        links = []
        for p in plans:
            report = p.event.payload.report
            r = p.live
            key = (report.subject.subject_id, r.policy_area.value)
            case = by_key.get(key)
            if case is None:
                case = new_case(
                    case_id=derive_id("case", report.report_id),
                    kind="report",
                    subject=report.subject,
                    source=report.source,
                    area=r.policy_area,
                    queue=r.queue,
                    priority_value=r.priority,
                    deadline=r.deadline,
                    reason=r.reason,
                    policy_version=self.policy.version,
                    first_report_id=report.report_id,
                    now=now,
                )
                by_key[key] = created[case["case_id"]] = case
            else:
                self._raise_case(case, p, now)
                if case["case_id"] not in created:
                    changed[case["case_id"]] = case
            p.case_id = case["case_id"]
            links.append(
                {"case_id": case["case_id"], "report_id": report.report_id, "linked_at": now}
            )
        if created:
            await conn.execute(insert(cases), list(created.values()))
        if changed:
            await conn.execute(
                update(cases)
                .where(cases.c.case_id == bindparam("b_case_id"))
                .values(
                    report_count=bindparam("b_report_count"),
                    priority=bindparam("b_priority"),
                    deadline=bindparam("b_deadline"),
                    reason=bindparam("b_reason"),
                    source=bindparam("b_source"),
                    revision=bindparam("b_revision"),
                    updated_at=bindparam("b_updated_at"),
                ),
                [
                    {
                        "b_case_id": c["case_id"],
                        "b_report_count": c["report_count"],
                        "b_priority": c["priority"],
                        "b_deadline": c["deadline"],
                        "b_reason": c["reason"],
                        "b_source": c["source"],
                        "b_revision": c["revision"],
                        "b_updated_at": now,
                    }
                    for c in changed.values()
                ],
            )
        await conn.execute(insert(case_reports).on_conflict_do_nothing(), links)
        await conn.execute(
            update(routings)
            .where(routings.c.report_id == bindparam("b_report_id"))
            .values(case_id=bindparam("b_case_id")),
            [{"b_report_id": link["report_id"], "b_case_id": link["case_id"]} for link in links],
        )
        return list(await task_events(conn, [*created.values(), *changed.values()]))

    @staticmethod
    def _raise_case(case: dict[str, Any], p: _Planned, now: datetime) -> None:
        """A later report on an open case: earlier deadline if due sooner, higher priority."""
        r = p.live
        source = p.event.payload.report.source
        case["report_count"] += 1
        case["revision"] += 1
        bonus = min(200, 25 * (case["report_count"] - 1))
        case["priority"] = max(case["priority"], r.priority + bonus)
        if r.deadline < case["deadline"]:
            case["deadline"], case["reason"] = r.deadline, r.reason
        if source_rank(source) > source_rank(Source(case["source"])):
            case["source"] = source.value

    def _routed_event(self, p: _Planned, now: datetime) -> ReportRouted:
        report = p.event.payload.report
        review = p.live.kind == "review"
        return ReportRouted(
            event_id=derive_id("routed", report.report_id),
            producer="router",
            correlation_id=p.event.correlation_id,
            causation_id=p.event.event_id,
            payload=Routing(
                report_id=report.report_id,
                subject_id=report.subject.subject_id,
                route=_ROUTE_KIND[p.live.kind],
                policy_area=p.live.policy_area,
                case_id=p.case_id,
                queue=p.live.queue if review else None,
                deadline=p.live.deadline if review else None,
                policy_version=self.policy.version,
                routed_at=now,
            ),
        )


class AppealHandler:
    """Opens a case on the appeals queue per appeal, closed to the original reviewer."""

    __name__ = "appeal"

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    async def __call__(self, events: list[AppealLodged], ctx: HandlerContext) -> list[Event]:
        assert ctx.conn is not None
        conn = ctx.conn
        now = utcnow()
        report_ids = [e.payload.report_id for e in events]
        known = await conn.execute(
            select(routings.c.report_id, routings.c.case_id, routings.c.payload).where(
                routings.c.report_id.in_(report_ids)
            )
        )
        routed = {row.report_id: row for row in known}
        rows = []
        for e in events:
            appeal = e.payload
            ref = appeal.appeal
            original = routed.get(appeal.report_id)
            source = (
                ClassifiedReport.model_validate(original.payload).report.source
                if original is not None and original.payload
                else Source.USER_NOTICE
            )
            tier = POLICY_AREAS[appeal.policy_area].tier
            rows.append(
                new_case(
                    case_id=derive_id("case", "appeal", ref.appeal_id),
                    kind="appeal",
                    subject=appeal.subject,
                    source=source,
                    area=appeal.policy_area,
                    queue=self.policy.appeals.queue,
                    priority_value=priority(tier, source, 0.0),
                    deadline=appeal.lodged_at + timedelta(minutes=self.policy.appeals.sla_minutes),
                    reason=f"appeal by the {ref.appellant.replace('_', ' ')}",
                    policy_version=self.policy.version,
                    first_report_id=appeal.report_id,
                    now=now,
                    excluded=[ref.original_reviewer_id] if ref.original_reviewer_id else [],
                    appeal=ref,
                )
            )
        result = await conn.execute(
            insert(cases).on_conflict_do_nothing().returning(cases.c.case_id), rows
        )
        inserted = set(result.scalars())
        rows = [r for r in rows if r["case_id"] in inserted]
        if not rows:
            return []
        # The appeal shows every report of the original case, when the router routed it.
        original_cases = {r.report_id: r.case_id for r in routed.values() if r.case_id is not None}
        earlier = await linked_reports(
            conn, {c for c in (original_cases.get(r["first_report_id"]) for r in rows) if c}
        )
        links: list[dict[str, Any]] = []
        for row in rows:
            appealed = row["first_report_id"]
            source_case = original_cases.get(appealed)
            others = earlier.get(source_case, []) if source_case else []
            links.extend(
                {"case_id": row["case_id"], "report_id": rid, "linked_at": now}
                for rid in others
                if rid != appealed
            )
            # Linked last, so the task shows the appealed report as the one to decide.
            links.append(
                {
                    "case_id": row["case_id"],
                    "report_id": appealed,
                    "linked_at": now + timedelta(microseconds=1),
                }
            )
        await conn.execute(insert(case_reports).on_conflict_do_nothing(), links)
        return list(await task_events(conn, rows))

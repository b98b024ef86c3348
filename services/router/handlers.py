"""The router's handler: apply the policy to classified reports; publish decisions or tasks."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert

from services.router.models import routings
from services.router.policy import Policy, route
from shared.events import (
    Actor,
    DecidedBy,
    Decision,
    DecisionMade,
    Event,
    Outcome,
    ReportClassified,
    ReviewTask,
    ReviewTaskCreated,
    derive_id,
    utcnow,
)
from shared.kafka.consumer import HandlerContext
from shared.taxonomy import dsa_category


class RouteHandler:
    __name__ = "route"

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    async def __call__(self, events: list[ReportClassified], ctx: HandlerContext) -> list[Event]:
        assert ctx.conn is not None
        out, rows = self.decide(events)
        if rows:
            # The report id is the natural key: a report re-classified after a crash upstream
            # (a new event id) is still routed once.
            result = await ctx.conn.execute(
                insert(routings)
                .on_conflict_do_nothing(index_elements=["report_id"])
                .returning(routings.c.report_id),
                rows,
            )
            routed = {str(r) for r in result.scalars()}
            out = [e for e in out if str(e.correlation_id) in routed]
        return out

    def decide(self, events: list[ReportClassified]) -> tuple[list[Event], list[dict[str, object]]]:
        now = utcnow()
        out: list[Event] = []
        rows: list[dict[str, object]] = []
        versions = {"policy": self.policy.version}
        for event in events:
            report = event.payload.report
            classification = event.payload.classification
            r = route(self.policy, report, classification)
            rows.append(
                {
                    "report_id": report.report_id,
                    "subject_id": report.subject.subject_id,
                    "policy_area": r.policy_area.value,
                    "tier": r.tier.value,
                    "outcome": r.kind,
                    "score": r.score,
                    "queue": r.queue,
                    "priority": r.priority if r.kind == "review" else None,
                    "deadline": r.deadline,
                    "policy_version": self.policy.version,
                    "received_at": report.received_at,
                    "routed_at": now,
                }
            )
            if r.kind == "review":
                assert r.queue is not None and r.deadline is not None
                task_id = derive_id("task", report.report_id)
                out.append(
                    ReviewTaskCreated(
                        event_id=derive_id("event", task_id),
                        producer="router",
                        correlation_id=event.correlation_id,
                        causation_id=event.event_id,
                        payload=ReviewTask(
                            task_id=task_id,
                            queue=r.queue,
                            policy_area=r.policy_area,
                            tier=r.tier,
                            priority=r.priority,
                            deadline=r.deadline,
                            reason=r.reason,
                            policy_version=self.policy.version,
                            report=report,
                            classification=classification,
                        ),
                    )
                )
                continue
            decision_id = derive_id("decision", report.report_id)
            out.append(
                DecisionMade(
                    event_id=derive_id("event", decision_id),
                    producer="router",
                    correlation_id=event.correlation_id,
                    causation_id=event.event_id,
                    payload=Decision(
                        decision_id=decision_id,
                        report_id=report.report_id,
                        subject=report.subject,
                        policy_area=r.policy_area,
                        dsa_category=dsa_category(r.policy_area),
                        source=report.source,
                        outcome=Outcome.ACTION if r.kind == "action" else Outcome.NO_ACTION,
                        action=r.action,
                        decided_by=DecidedBy.AUTOMATED,
                        actor=Actor(
                            kind="policy",
                            actor_id=f"router:{self.policy.version}",
                            versions={**classification.versions, **versions},
                        ),
                        reason=r.reason,
                        score=r.score,
                        decided_at=now,
                    ),
                )
            )
        return out, rows

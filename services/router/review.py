"""The review desk: claim, release, escalate, annotate and decide cases; four-eyes.

Claims take the earliest-deadline case of a queue (ties by priority) with ``FOR UPDATE SKIP
LOCKED`` and give the reviewer a lease; an expired lease makes the case claimable again. Every
act needs the case's queue scope and, except claiming, the lease. A decision is published on
``tns.decisions.v1`` and acknowledged by the broker before the case is marked decided in the same
transaction (publish, then commit): a failure in between leaves the case open, and a retry
publishes the same derived decision and event ids, which enforcement skips as duplicates.

QA cases and the agreement figures are in ``qa``; the SQL is in ``repository``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from aiokafka.errors import KafkaError
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.router import repository
from services.router.cases import (
    CaseRow,
    build_task,
    fetch_case,
    linked_reports,
    load_payloads,
    task_events,
)
from services.router.metrics import TIME_TO_FIRST_DECISION
from services.router.policy import Policy, sampled
from services.router.qa import open_qa, record_qa
from services.router.schemas import CaseRead, DecisionCreate, DecisionResult, EscalationCreate
from shared.apikeys import Principal
from shared.errors import ApiError
from shared.events import (
    Actor,
    AppealRef,
    ClassifiedReport,
    DecidedBy,
    Decision,
    DecisionMade,
    Event,
    Source,
    SourceKind,
    Subject,
    derive_id,
    utcnow,
)
from shared.kafka.producer import EventProducer
from shared.kafka.topics import ensure_topics
from shared.taxonomy import POLICY_AREAS, PolicyArea, Tier, dsa_category


def _invalid_queue(message: str, kind: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", "queue"), "msg": message, "type": f"queue_{kind}"}]
    )


def queue_scope(queue: str) -> str:
    return f"review:{queue}"


class ReviewDesk:
    def __init__(
        self,
        engine: AsyncEngine,
        producer: EventProducer,
        policy: Policy,
        *,
        lease: timedelta,
        bootstrap_servers: str,
        partitions: int,
    ) -> None:
        self.engine = engine
        self.producer = producer
        self.policy = policy
        self.lease = lease
        self.bootstrap_servers = bootstrap_servers
        self.partitions = partitions

    # -- reading -----------------------------------------------------------------------------

    async def case_read(self, conn: AsyncConnection, case: CaseRow) -> CaseRead:
        links = await linked_reports(conn, [case["case_id"]])
        ids = links[case["case_id"]]
        payloads = await load_payloads(conn, ids)
        return CaseRead(
            case_id=case["case_id"],
            kind=case["kind"],
            queue=case["queue"],
            status=case["status"],
            policy_area=PolicyArea(case["policy_area"]),
            tier=Tier(case["tier"]),
            priority=case["priority"],
            deadline=case["deadline"],
            reason=case["reason"],
            report_ids=ids,
            lease_holder=case["lease_holder"],
            lease_expires_at=case["lease_expires_at"],
            proposal=DecisionCreate.model_validate(case["proposal"]) if case["proposal"] else None,
            proposed_by=case["proposed_by"],
            appeal=AppealRef.model_validate(case["appeal"]) if case["appeal"] else None,
            qa_of=case["qa_of"],
            task=build_task(case, ids, payloads),
        )

    async def get(self, case_id: uuid.UUID, principal: Principal) -> CaseRead:
        async with self.engine.connect() as conn:
            case = await fetch_case(conn, case_id)
            case = self._authorise(case, principal)
            return await self.case_read(conn, case)

    # -- the lease ---------------------------------------------------------------------------

    async def claim(self, queue: str, principal: Principal) -> CaseRead | None:
        """Lease the next case of ``queue`` to the reviewer: earliest deadline, then priority."""
        if not principal.has(queue_scope(queue)):
            raise ApiError(403, "forbidden", f"the API key lacks the {queue_scope(queue)!r} scope")
        reviewer = principal.client_id
        now = utcnow()
        async with self.engine.begin() as conn:
            case_id = await repository.next_claimable(conn, queue=queue, reviewer=reviewer, now=now)
            if case_id is None:
                return None
            await repository.lease_case(
                conn, case_id=case_id, reviewer=reviewer, expires_at=now + self.lease
            )
            await repository.log_activity(
                conn, case_id=case_id, reviewer=reviewer, act="claim", detail=""
            )
            case = await fetch_case(conn, case_id)
            assert case is not None
            return await self.case_read(conn, case)

    async def release(self, case_id: uuid.UUID, principal: Principal) -> None:
        async with self.engine.begin() as conn:
            await self._held(conn, case_id, principal)
            await repository.clear_lease(conn, case_id=case_id)
            await repository.log_activity(
                conn, case_id=case_id, reviewer=principal.client_id, act="release", detail=""
            )

    async def note(self, case_id: uuid.UUID, principal: Principal, note: str) -> None:
        async with self.engine.begin() as conn:
            await self._held(conn, case_id, principal)
            await repository.log_activity(
                conn, case_id=case_id, reviewer=principal.client_id, act="note", detail=note
            )

    async def escalate(
        self, case_id: uuid.UUID, principal: Principal, body: EscalationCreate
    ) -> CaseRead:
        """Move the case to another queue with a reason; it leaves the reviewer's hands.

        Only to a queue the policy routes to, and never to one staffed for less grave cases
        than the case's area (a child-safety case stays on queues cleared for S0).
        """
        async with self.engine.begin() as conn:
            case = await self._held(conn, case_id, principal)
            self._check_escalation(case, body.queue)
            await repository.move_case(
                conn,
                case_id=case_id,
                queue=body.queue,
                reason=f"escalated from {case['queue']}: {body.reason}",
                now=utcnow(),
            )
            detail = f"{case['queue']} -> {body.queue}: {body.reason}"
            await repository.log_activity(
                conn, case_id=case_id, reviewer=principal.client_id, act="escalate", detail=detail
            )
            moved = await fetch_case(conn, case_id)
            assert moved is not None
            events = await task_events(conn, [moved])
            if events:
                await self._publish_events(
                    events, new_topic=self.producer.topics.review(body.queue)
                )
            return await self.case_read(conn, moved)

    def _check_escalation(self, case: CaseRow, queue: str) -> None:
        floor = self.policy.queue_floor(queue)
        if floor is None:
            known = ", ".join(sorted(self.policy.queues()))
            raise _invalid_queue(f"no such queue; the configured queues are {known}", "unknown")
        area = PolicyArea(case["policy_area"])
        needed = POLICY_AREAS[area].tier
        if floor > needed:
            raise _invalid_queue(
                f"queue {queue!r} is cleared for {floor} cases at most; a {area} case is {needed}",
                "below_severity",
            )

    # -- deciding ----------------------------------------------------------------------------

    async def decide(
        self, case_id: uuid.UUID, principal: Principal, body: DecisionCreate
    ) -> DecisionResult:
        reviewer = principal.client_id
        first_decision: tuple[str, float] | None = None
        async with self.engine.begin() as conn:
            case = await fetch_case(conn, case_id, for_update=True)
            case = self._authorise(case, principal)
            if case["status"] == "decided":
                return self._already_decided(case, reviewer)
            await self._held(conn, case_id, principal, case=case)
            now = utcnow()
            if case["first_decided_at"] is None:
                first_decision = (case["queue"], (now - case["created_at"]).total_seconds())
            if case["kind"] == "qa":
                result = await record_qa(conn, case=case, reviewer=reviewer, body=body, now=now)
            elif self.policy.four_eyes.required(
                Tier(case["tier"]), PolicyArea(case["policy_area"]), body.action
            ):
                result = await self._propose(conn, case, reviewer, body, now)
            else:
                result = await self._publish(
                    conn, case, body, decider=reviewer, confirmer=None, now=now
                )
        if first_decision is not None:
            TIME_TO_FIRST_DECISION.labels(first_decision[0]).observe(first_decision[1])
        return result

    async def confirm(self, case_id: uuid.UUID, principal: Principal) -> DecisionResult:
        """The second reviewer's confirmation of a four-eyes decision; publishes it."""
        reviewer = principal.client_id
        async with self.engine.begin() as conn:
            case = await fetch_case(conn, case_id, for_update=True)
            case = self._authorise(case, principal)
            if case["status"] == "decided":
                return self._already_decided(case, reviewer)
            if case["status"] != "awaiting_confirmation":
                raise ApiError(409, "not_awaiting_confirmation", "no decision awaits confirmation")
            if case["proposed_by"] == reviewer:
                raise ApiError(
                    403, "four_eyes", "a second, different reviewer must confirm this decision"
                )
            await self._held(conn, case_id, principal, case=case)
            body = DecisionCreate.model_validate(case["proposal"])
            return await self._publish(
                conn, case, body, decider=case["proposed_by"], confirmer=reviewer, now=utcnow()
            )

    def _source_kind(
        self, source: Source, payloads: Iterable[ClassifiedReport]
    ) -> SourceKind | None:
        """The case's registered kind of source: of its reports from the case's source, the
        kind that ranks first in the policy (none when no such report has a kind)."""
        reports = [p.report for p in payloads if p.report.source is source and p.report.source_kind]
        if not reports:
            return None
        return max(reports, key=self.policy.source_weight).source_kind

    @staticmethod
    def _already_decided(case: CaseRow, reviewer: str) -> DecisionResult:
        # A retried request from the decider gets the same answer; anyone else a conflict.
        if reviewer not in (case["decided_by"], case["confirmed_by"]):
            raise ApiError(409, "already_decided", "the case is already decided")
        return DecisionResult(
            case_id=case["case_id"],
            status="recorded" if case["kind"] == "qa" else "decided",
            decision_id=case["decision_id"],
            confirmed_by=case["confirmed_by"],
        )

    async def _propose(
        self,
        conn: AsyncConnection,
        case: CaseRow,
        reviewer: str,
        body: DecisionCreate,
        now: datetime,
    ) -> DecisionResult:
        await repository.mark_proposed(
            conn,
            case_id=case["case_id"],
            proposal=body.model_dump(mode="json"),
            proposed_by=reviewer,
            now=now,
        )
        await repository.log_activity(
            conn,
            case_id=case["case_id"],
            reviewer=reviewer,
            act="propose",
            detail=body.activity_detail(),
        )
        return DecisionResult(case_id=case["case_id"], status="awaiting_confirmation")

    async def _publish(
        self,
        conn: AsyncConnection,
        case: CaseRow,
        body: DecisionCreate,
        *,
        decider: str,
        confirmer: str | None,
        now: datetime,
    ) -> DecisionResult:
        case_id = case["case_id"]
        report_ids = (await linked_reports(conn, [case_id]))[case_id]
        payloads = await load_payloads(conn, report_ids)
        appeal = AppealRef.model_validate(case["appeal"]) if case["appeal"] else None
        decision_id = derive_id("decision", appeal.appeal_id if appeal else case_id)
        area = PolicyArea(case["policy_area"])
        versions = {"policy": case["policy_version"]}
        latest = payloads.get(report_ids[-1]) if report_ids else None
        # The client whose notice opened the case owns the decision.
        first = payloads.get(case["first_report_id"])
        if latest is not None:
            versions = {**latest.classification.versions, **versions}
        source = Source(case["source"])
        decision = Decision(
            decision_id=decision_id,
            report_id=case["first_report_id"],
            subject=Subject.model_validate(case["subject"]),
            policy_area=area,
            dsa_category=dsa_category(area),
            source=source,
            outcome=body.outcome,
            action=body.action,
            decided_by=DecidedBy.HUMAN,
            actor=Actor(kind="reviewer", actor_id=decider, versions=versions),
            reason=body.reason,
            decided_at=now,
            case_id=case_id,
            report_ids=report_ids or [case["first_report_id"]],
            confirmed_by=confirmer,
            automated_detection=source == Source.AUTOMATED_DETECTION
            or any(p.report.source == Source.AUTOMATED_DETECTION for p in payloads.values()),
            manifestly_unfounded=body.manifestly_unfounded,
            territorial_scope=body.territorial_scope,
            duration_days=body.duration_days,
            appeal=appeal,
            client_id=first.report.client_id if first is not None else None,
            source_kind=next(
                (
                    p.report.source_kind
                    for p in payloads.values()
                    if p.report.source is source and p.report.source_kind is not None
                ),
                None,
            ),
            received_at=min((p.report.received_at for p in payloads.values()), default=None),
        )
        events: list[Event] = [
            DecisionMade(
                event_id=derive_id("event", decision_id),
                producer="router",
                correlation_id=case["first_report_id"],
                payload=decision,
            )
        ]
        if sampled(self.policy.qa.human_share, "qa", decision_id):
            events.extend(
                await open_qa(
                    conn, self.policy, case=case, decision=decision, report_ids=report_ids, now=now
                )
            )
        # Publish, then commit: the case is closed only once the broker holds the decision.
        await self._publish_events(events)
        await repository.mark_decided(
            conn,
            case_id=case_id,
            decided_by=decider,
            outcome=body.outcome.value,
            action=body.action.value if body.action else None,
            now=now,
            decision=(decision_id, confirmer),
        )
        act = "confirm" if confirmer else "decide"
        await repository.log_activity(
            conn,
            case_id=case_id,
            reviewer=confirmer or decider,
            act=act,
            detail=body.activity_detail(),
        )
        return DecisionResult(
            case_id=case_id, status="decided", decision_id=decision_id, confirmed_by=confirmer
        )

    async def _publish_events(self, events: Sequence[Event], new_topic: str | None = None) -> None:
        """Publish and await the acks; a broker outage is a 503 and the transaction rolls back."""
        try:
            if new_topic is not None:
                await ensure_topics(self.bootstrap_servers, [new_topic], self.partitions)
            await self.producer.publish(events)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise ApiError(
                503,
                "broker_unavailable",
                f"the decision could not be published ({type(exc).__name__}); retry: "
                "the request is idempotent",
                headers={"Retry-After": "5"},
            ) from exc

    # -- checks ------------------------------------------------------------------------------

    @staticmethod
    def _authorise(case: CaseRow | None, principal: Principal) -> CaseRow:
        if case is None:
            raise ApiError(404, "not_found", "no such case")
        if not principal.has(queue_scope(case["queue"])):
            raise ApiError(
                403, "forbidden", f"the API key lacks the {queue_scope(case['queue'])!r} scope"
            )
        return case

    async def _held(
        self,
        conn: AsyncConnection,
        case_id: uuid.UUID,
        principal: Principal,
        *,
        case: CaseRow | None = None,
    ) -> CaseRow:
        """The case, if the reviewer may act on it and holds its lease (403 / 409 otherwise)."""
        if case is None:
            case = self._authorise(await fetch_case(conn, case_id, for_update=True), principal)
        reviewer = principal.client_id
        if reviewer in case["excluded_reviewers"]:
            raise ApiError(
                403, "excluded", "this reviewer may not act on this case (own earlier decision)"
            )
        if case["status"] == "decided":
            raise ApiError(409, "already_decided", "the case is already decided")
        expires = case["lease_expires_at"]
        if case["lease_holder"] != reviewer or expires is None or expires <= utcnow():
            raise ApiError(409, "not_held", "claim the case first: the reviewer holds no lease")
        return case

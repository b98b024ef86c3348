"""Enforcement's handlers: decisions become actions, strikes, holds, statements, notices.

One transaction per batch (the consumer loop's). The audit chain's lock is taken first, so
strike counts and ledger states read here cannot race another replica. Every id is derived
from the decision, so a replayed decision inserts nothing and publishes the same ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, any_, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from services.enforcement import audit, statements
from services.enforcement.audit import AuditEntry
from services.enforcement.bulk import copy_rows
from services.enforcement.ladder import (
    ACCOUNT_ACTIONS,
    OWNER_ACTIONS,
    AccountStep,
    EnforcementPolicy,
    add_months,
    combine,
    ends_at,
    ladder_step,
)
from services.enforcement.metrics import (
    ACTIONS,
    APPEAL_DECISION_SECONDS,
    APPEALS_DECIDED,
    CONFIRMATIONS_REFUSED,
    DECISIONS,
    LEGAL_REPORTS,
    STRIKES,
)
from services.enforcement.models import (
    actions,
    appeals,
    decisions,
    evidence,
    legal_reports,
    strikes,
)
from services.enforcement.models import (
    statements as statements_table,
)
from services.enforcement.settings import EnforcementSettings
from shared.events import (
    Action,
    ActionConfirmed,
    ActionIssued,
    ActionStatus,
    ActionType,
    ContentType,
    DecidedBy,
    Decision,
    DecisionMade,
    Event,
    Notice,
    Outcome,
    Recipient,
    Source,
    Subject,
    SubjectType,
    UserNotified,
    derive_id,
    utcnow,
)
from shared.kafka.consumer import HandlerContext
from shared.taxonomy import DsaCategory, PolicyArea

logger = logging.getLogger(__name__)

PRODUCER = "enforcement"
# One array parameter instead of an IN list of the batch's ids: the statement compiles once.
_UUIDS = ARRAY(UUID(as_uuid=True))
SYSTEM = ("system", "enforcement")
# Strikes count per account of one client: (client_id, account_id).
Account = tuple[str | None, str]
# Decisions planned between two hand-overs to the writer: PostgreSQL inserts one slice's rows
# while the next slice is planned, instead of all of them after the whole batch is planned.
PLAN_SLICE = 250
# The writer moves one step (one COPY) each time the planner lets it run: often enough that it
# keeps up with the slices.
PLAN_YIELD = 25
# Sources with a notifier to tell the outcome to (Art. 16(5)); automated and internal have none.
NOTIFIED_SOURCES = frozenset({Source.USER_NOTICE, Source.TRUSTED_FLAGGER, Source.AUTHORITY_ORDER})


@dataclass(slots=True)
class BatchPlan:
    """Everything one batch writes and publishes, gathered so each table gets one statement."""

    now: datetime
    service: str
    decision_rows: list[dict[str, Any]] = field(default_factory=list)
    action_rows: list[dict[str, Any]] = field(default_factory=list)
    strike_rows: list[dict[str, Any]] = field(default_factory=list)
    evidence_rows: list[dict[str, Any]] = field(default_factory=list)
    legal_rows: list[dict[str, Any]] = field(default_factory=list)
    statement_rows: list[dict[str, Any]] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    counts: Counter[tuple[str, ...]] = field(default_factory=Counter)
    # The owning client of each decision of the batch (an appeal's: the appealed decision's).
    clients: dict[uuid.UUID, str | None] = field(default_factory=dict)

    def record(self, act: str, d: Decision, actor: tuple[str, str] = SYSTEM, **kw: Any) -> None:
        self.audit.append(
            AuditEntry(
                actor_kind=actor[0],
                actor_id=actor[1],
                act=act,
                recorded_at=self.now,
                subject_id=d.subject.subject_id,
                report_id=d.report_id,
                decision_id=d.decision_id,
                case_id=d.case_id,
                action_id=kw.pop("action_id", None),
                details=kw,
                client_id=self.clients.get(d.decision_id),
            )
        )


def account_of(subject: Subject) -> str | None:
    """The account that answers for a subject: its owner, or the account itself."""
    if subject.owner_account_id:
        return subject.owner_account_id
    return subject.subject_id if subject.subject_type is SubjectType.ACCOUNT else None


def action_event(
    row: dict[str, Any],
    *,
    attempt: int = 1,
    reverses: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
    subject: Subject | None = None,
) -> ActionIssued:
    """The ``ActionIssued`` for a ledger row; a re-issue gets a new event id, same action id."""
    action_id = row["action_id"]
    event_key = (str(action_id),) if attempt == 1 else (str(action_id), str(attempt))
    if subject is None:
        subject = Subject(
            subject_type=SubjectType(row["subject_type"]),
            subject_id=row["subject_id"],
            content_type=ContentType(row["content_type"] or ContentType.OTHER.value),
            owner_account_id=row["owner_account_id"],
        )
    return ActionIssued.unchecked(
        event_id=derive_id("event", *event_key),
        occurred_at=utcnow(),
        producer=PRODUCER,
        correlation_id=row["correlation_id"] or row["report_id"],
        causation_id=causation_id,
        payload=Action.unchecked(
            action_id=action_id,
            decision_id=row["decision_id"],
            report_id=row["report_id"],
            subject=subject,
            action=ActionType(row["action"]),
            policy_area=PolicyArea(row["policy_area"]),
            dsa_category=DsaCategory(row["dsa_category"]),
            decided_by=DecidedBy(row["decided_by"]),
            reason=row["reason"] or "",
            issued_at=row["issued_at"],
            ends_at=row["ends_at"],
            territorial_scope=list(row["territorial_scope"] or ()),
            reverses=reverses,
        ),
    )


class Enforcer:
    """The decision and confirmation handlers, with the policy and settings they apply."""

    def __init__(self, settings: EnforcementSettings, policy: EnforcementPolicy) -> None:
        self.settings = settings
        self.policy = policy
        self.service = settings.service_name
        self.statements = statements.StatementBuilder(policy)

    # -- decisions ------------------------------------------------------------------------

    async def handle_decisions(
        self, events: list[DecisionMade], ctx: HandlerContext
    ) -> list[Event]:
        conn = ctx.conn
        assert conn is not None
        plan = BatchPlan(now=utcnow(), service=self.service)
        await audit.lock_chain(conn)
        by_id = {e.payload.decision_id: e for e in events}
        # Under the chain lock no other writer can insert these between the check and the copy.
        known = set(
            (
                await conn.execute(
                    select(decisions.c.decision_id).where(
                        decisions.c.decision_id == any_(bindparam("ids", type_=_UUIDS))
                    ),
                    {"ids": list(by_id)},
                )
            ).scalars()
        )
        recorded = [d for d in by_id if d not in known]
        fresh = [by_id[d] for d in recorded]
        appeal_events = [e for e in fresh if e.payload.appeal is not None]
        plan.clients = {e.payload.decision_id: e.payload.client_id for e in fresh}
        if appeal_events:
            await self._appeal_clients(conn, appeal_events, plan)
        plan.decision_rows = [self._decision_row(e, plan) for e in fresh]
        accounts = {
            (plan.clients[e.payload.decision_id], a)
            for e in fresh
            if e.payload.outcome is Outcome.ACTION and (a := account_of(e.payload.subject))
        }
        weights = await self._active_weights(conn, accounts, plan.now) if accounts else {}
        acting: list[DecisionMade] = [e for e in fresh if e.payload.appeal is None]
        if appeal_events:
            acting += await self._decide_appeals(conn, appeal_events, plan, weights)
        # PostgreSQL takes the decisions while the batch is planned, each slice's rows while
        # the next slice is planned, and the rest while the events are serialised and handed
        # to the broker (acknowledged before the commit).
        planned, progress = asyncio.Event(), asyncio.Event()
        write = asyncio.create_task(self._write(conn, plan, planned, progress))
        try:
            await asyncio.sleep(0)  # the decisions' COPY is on its way
            for i, event in enumerate(acting, 1):
                self._plan_decision(event, plan, weights)
                if i % PLAN_SLICE == 0:
                    progress.set()  # the writer takes what is planned so far
                if i % PLAN_YIELD == 0:
                    await asyncio.sleep(0)  # one step of the writer: its next COPY
            planned.set()
            progress.set()
            if ctx.publication is None:
                await write
                return plan.events
            await ctx.publication.send(plan.events)
            await write
        except BaseException:
            write.cancel()
            with contextlib.suppress(BaseException):
                await write
            raise
        return []

    async def _appeal_clients(
        self, conn: AsyncConnection, events: list[DecisionMade], plan: BatchPlan
    ) -> None:
        """An appeal's decision belongs to the client that owns the appeal (and the decision
        appealed), whatever client the event names."""
        ids = [e.payload.appeal.appeal_id for e in events if e.payload.appeal is not None]
        owners = dict(
            (
                await conn.execute(
                    select(appeals.c.appeal_id, appeals.c.client_id).where(
                        appeals.c.appeal_id.in_(ids)
                    )
                )
            ).all()
        )
        for e in events:
            assert e.payload.appeal is not None
            if e.payload.appeal.appeal_id in owners:
                plan.clients[e.payload.decision_id] = owners[e.payload.appeal.appeal_id]

    def _decision_row(self, event: DecisionMade, plan: BatchPlan) -> dict[str, Any]:
        d = event.payload
        now = plan.now
        return {
            "decision_id": d.decision_id,
            "report_id": d.report_id,
            "subject_type": d.subject.subject_type.value,
            "subject_id": d.subject.subject_id,
            "owner_account_id": d.subject.owner_account_id,
            "content_type": d.subject.content_type.value,
            "policy_area": d.policy_area.value,
            "dsa_category": d.dsa_category.value,
            "source": d.source.value,
            "outcome": d.outcome.value,
            "action": d.action.value if d.action else None,
            "decided_by": d.decided_by.value,
            "actor_kind": d.actor.kind,
            "actor_id": d.actor.actor_id,
            "versions": d.actor.versions,
            "reason": d.reason,
            "score": d.score,
            "decided_at": d.decided_at,
            "recorded_at": now,
            "case_id": d.case_id,
            "report_ids": d.report_ids or None,
            "appeal_id": d.appeal.appeal_id if d.appeal else None,
            # The notices go out in this batch, before its transaction commits.
            "communicated_at": now,
            "client_id": plan.clients[d.decision_id],
        }

    async def _active_weights(
        self, conn: AsyncConnection, accounts: set[Account], now: datetime
    ) -> dict[Account, int]:
        """Active strike weight per (client, account): a client's ladder counts its strikes only."""
        rows = await conn.execute(
            select(strikes.c.client_id, strikes.c.account_id, func.sum(strikes.c.weight))
            .where(
                strikes.c.account_id.in_({a for _, a in accounts}),
                strikes.c.expires_at > now,
                strikes.c.reversed_at.is_(None),
            )
            .group_by(strikes.c.client_id, strikes.c.account_id)
        )
        weights = dict.fromkeys(accounts, 0)
        weights.update({(c, a): int(w) for c, a, w in rows if (c, a) in weights})
        return weights

    def _plan_decision(
        self, event: DecisionMade, plan: BatchPlan, weights: dict[Account, int]
    ) -> None:
        d = event.payload
        plan.counts[("decision", d.policy_area.value, d.outcome.value)] += 1
        plan.record(
            "decision_recorded",
            d,
            (d.actor.kind, d.actor.actor_id),
            outcome=d.outcome.value,
            action=d.action.value if d.action else None,
            policy_area=d.policy_area.value,
            decided_by=d.decided_by.value,
            reason=d.reason,
            score=d.score,
            versions=d.actor.versions,
            **({"confirmed_by": d.confirmed_by} if d.confirmed_by else {}),
            **({"report_ids": [str(r) for r in d.report_ids]} if d.report_ids else {}),
            **({"appeal_id": str(d.appeal.appeal_id)} if d.appeal else {}),
        )
        issued: list[tuple[uuid.UUID, ActionType]] = []
        if d.outcome is Outcome.ACTION and d.action is not None:
            issued = self._plan_actions(event, plan, weights)
        self._plan_notices(d, issued, plan)

    def _plan_actions(
        self, event: DecisionMade, plan: BatchPlan, weights: dict[Account, int]
    ) -> list[tuple[uuid.UUID, ActionType]]:
        d = event.payload
        assert d.action is not None
        area = d.policy_area
        account = account_of(d.subject)
        client = plan.clients[d.decision_id]
        wanted: list[tuple[ActionType, int | None]] = []
        requested_step: AccountStep | None = None
        if d.action in ACCOUNT_ACTIONS:
            requested_step = AccountStep(d.action, d.duration_days)
        else:
            wanted.append((d.action, d.duration_days if d.action in OWNER_ACTIONS else None))
        ladder: AccountStep | None = None
        if account is not None:
            weight = self.policy.weight(area)
            key = (client, account)
            if weight > 0:
                weights[key] = weights.get(key, 0) + weight
                plan.strike_rows.append(
                    {
                        "strike_id": derive_id("strike", str(d.decision_id)),
                        "account_id": account,
                        "decision_id": d.decision_id,
                        "policy_area": area.value,
                        "weight": weight,
                        "issued_at": plan.now,
                        "expires_at": plan.now + self.policy.expiry(area),
                        "client_id": client,
                    }
                )
                plan.counts[("strike", area.value)] += 1
                plan.record(
                    "strike_recorded",
                    d,
                    account_id=account,
                    weight=weight,
                    active_weight=weights[key],
                    policy_version=self.policy.version,
                )
            if weight > 0 or self.policy.rules(area).immediate is not None:
                ladder = ladder_step(self.policy, area, weights[key])
        step = combine(requested_step, ladder)
        if step is not None:
            wanted.append((step.action, step.duration_days))
        issued = []
        for action, duration in wanted:
            action_id = derive_id("action", str(d.decision_id), action.value)
            until = ends_at(plan.now, duration)
            row = {
                "action_id": action_id,
                "decision_id": d.decision_id,
                "report_id": d.report_id,
                "subject_type": d.subject.subject_type.value,
                "subject_id": d.subject.subject_id,
                "action": action.value,
                "policy_area": area.value,
                "status": "issued",
                "issued_at": plan.now,
                "content_type": d.subject.content_type.value,
                "owner_account_id": d.subject.owner_account_id,
                "dsa_category": d.dsa_category.value,
                "decided_by": d.decided_by.value,
                "reason": d.reason,
                "correlation_id": event.correlation_id,
                "ends_at": until,
                "territorial_scope": d.territorial_scope or None,
                "attempts": 1,
                "next_attempt_at": plan.now
                + timedelta(seconds=self.settings.action_confirm_timeout_s),
                "client_id": client,
            }
            plan.action_rows.append(row)
            plan.events.append(action_event(row, causation_id=event.event_id, subject=d.subject))
            statement = self.statements.build(
                d,
                action_id=action_id,
                action=action,
                applied_at=plan.now,
                ends_at=until,
            )
            plan.statement_rows.append(
                {
                    "puid": statement["puid"],
                    "action_id": action_id,
                    "decision_id": d.decision_id,
                    "statement": statement,
                    "created_at": plan.now,
                }
            )
            plan.counts[("action", action.value, "issued")] += 1
            plan.record(
                "action_issued",
                d,
                action_id=action_id,
                action=action.value,
                status="issued",
                ends_at=until.isoformat() if until else None,
                from_ladder=step is not None and action is step.action and step is ladder,
                statement_puid=statement["puid"],
            )
            issued.append((action_id, action))
        self._plan_preservation(d, plan)
        return issued

    def _plan_preservation(self, d: Decision, plan: BatchPlan) -> None:
        refs = [f"subject:{d.subject.subject_id}"]
        refs += [f"report:{r}" for r in (d.report_ids or [d.report_id])]
        hold = self.policy.hold(d.policy_area)
        plan.evidence_rows.append(
            {
                "evidence_id": derive_id("evidence", str(d.decision_id)),
                "decision_id": d.decision_id,
                "subject_id": d.subject.subject_id,
                "policy_area": d.policy_area.value,
                "refs": refs,
                "recorded_at": plan.now,
                "retain_until": plan.now + timedelta(days=self.policy.evidence_retention_days),
                "hold_until": plan.now + hold if hold else None,
                "hold_reason": f"preservation:{d.policy_area.value}" if hold else None,
            }
        )
        if hold:
            plan.record(
                "preservation_hold_placed", d, refs=refs, hold_until=(plan.now + hold).isoformat()
            )
        rule = self.policy.legal_reports.get(d.policy_area)
        if rule is not None:
            due = plan.now + timedelta(hours=rule.due_hours)
            plan.legal_rows.append(
                {
                    "legal_report_id": derive_id("legal_report", str(d.decision_id)),
                    "decision_id": d.decision_id,
                    "channel": rule.channel,
                    "status": "pending",
                    "subject_id": d.subject.subject_id,
                    "account_id": account_of(d.subject),
                    "evidence_refs": refs,
                    "created_at": plan.now,
                    "due_at": due,
                }
            )
            plan.counts[("legal", rule.channel)] += 1
            plan.record("legal_report_created", d, channel=rule.channel, due_at=due.isoformat())

    def _plan_notices(
        self, d: Decision, issued: list[tuple[uuid.UUID, ActionType]], plan: BatchPlan
    ) -> None:
        automated = d.decided_by is DecidedBy.AUTOMATED
        if d.appeal is not None:
            # The appeal's decision is final inside the platform; what is left is Art. 21.
            until = plan.now
            redress = (
                "This decision on your appeal is final on the platform. You may refer it to a "
                "certified out-of-court dispute settlement body or to a court."
            )
        else:
            until = add_months(plan.now, self.settings.appeal_window_months)
            redress = (
                f"You can appeal this decision free of charge until {until.date().isoformat()} "
                f"through the platform's appeal form, quoting decision {d.decision_id}."
            )
        done = ", ".join(a.value.replace("_", " ") for _, a in issued) or "no action"
        how = "by automated means" if automated else "by a human moderator"
        account = account_of(d.subject)
        recipients: list[tuple[Recipient, str, uuid.UUID]] = []
        if account is not None and (issued or (d.appeal and d.appeal.appellant == "affected_user")):
            recipients.append((Recipient.AFFECTED_USER, account, d.report_id))
        if d.appeal is None and d.source in NOTIFIED_SOURCES:
            recipients += [(Recipient.NOTIFIER, str(r), r) for r in (d.report_ids or [d.report_id])]
        elif d.appeal is not None and d.appeal.appellant == "notifier":
            recipients.append((Recipient.NOTIFIER, str(d.report_id), d.report_id))
        decision_ref = str(d.decision_id)
        for recipient, ref, report_id in recipients:
            if recipient is Recipient.AFFECTED_USER:
                message = (
                    f"We took the following action on your {d.subject.subject_type.value} under "
                    f"our {d.policy_area.value.replace('_', ' ')} policy: {done}. The decision was "
                    f"taken {how}; the statement of reasons gives the grounds."
                )
            else:
                message = (
                    f"Your report was reviewed under our {d.policy_area.value.replace('_', ' ')} "
                    f"policy {how}. Outcome: {done}."
                )
            plan.events.append(
                UserNotified.unchecked(
                    event_id=derive_id("event", "notice", decision_ref, recipient.value, ref),
                    occurred_at=plan.now,
                    producer=PRODUCER,
                    correlation_id=d.report_id,
                    payload=Notice.unchecked(
                        notice_id=derive_id("notice", decision_ref, recipient.value, ref),
                        recipient=recipient,
                        recipient_ref=ref,
                        report_id=report_id,
                        decision_id=d.decision_id,
                        subject=d.subject,
                        outcome=d.outcome,
                        action=d.action,
                        policy_area=d.policy_area,
                        automated=automated,
                        message=message,
                        redress=redress,
                        appeal_until=until,
                    ),
                )
            )

    # -- appeals --------------------------------------------------------------------------

    async def _decide_appeals(
        self,
        conn: AsyncConnection,
        events: list[DecisionMade],
        plan: BatchPlan,
        weights: dict[Account, int],
    ) -> list[DecisionMade]:
        """Settle appeals; returns the appeal decisions that issue actions of their own."""
        appeal_ids = [e.payload.appeal.appeal_id for e in events if e.payload.appeal]
        originals = [e.payload.appeal.decision_id for e in events if e.payload.appeal]
        lodged = {
            r.appeal_id: r
            for r in await conn.execute(select(appeals).where(appeals.c.appeal_id.in_(appeal_ids)))
        }
        live_actions: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for r in (
            await conn.execute(
                select(actions).where(
                    actions.c.decision_id.in_(originals), actions.c.status != "reversed"
                )
            )
        ).mappings():
            live_actions.setdefault(r["decision_id"], []).append(dict(r))
        acting: list[DecisionMade] = []
        appeal_updates: list[dict[str, Any]] = []
        reversed_ids: list[uuid.UUID] = []
        overturned_decisions: list[uuid.UUID] = []
        for event in events:
            d = event.payload
            ref = d.appeal
            assert ref is not None
            upheld = d.outcome is ref.original_outcome and (
                d.outcome is Outcome.NO_ACTION or d.action is ref.original_action
            )
            result = "upheld" if upheld else "overturned"
            row = lodged.get(ref.appeal_id)
            appeal_updates.append(
                {
                    "a_id": ref.appeal_id,
                    "a_status": result,
                    "a_decision": d.decision_id,
                    "a_at": plan.now,
                    "a_by": d.actor.actor_id,
                }
            )
            APPEALS_DECIDED.labels(self.service, d.policy_area.value, result).inc()
            if row is not None:
                APPEAL_DECISION_SECONDS.labels(self.service, d.policy_area.value).observe(
                    (plan.now - row.lodged_at).total_seconds()
                )
            plan.record(
                "appeal_decided",
                d,
                (d.actor.kind, d.actor.actor_id),
                appeal_id=str(ref.appeal_id),
                original_decision_id=str(ref.decision_id),
                result=result,
                appellant=ref.appellant,
                by_original_reviewer=(
                    ref.original_reviewer_id is not None
                    and ref.original_reviewer_id == d.actor.actor_id
                ),
            )
            if upheld:
                continue
            overturned_decisions.append(ref.decision_id)
            for original in live_actions.get(ref.decision_id, []):
                reversed_ids.append(original["action_id"])
                reversal = action_event(
                    {
                        **original,
                        "action_id": derive_id("reversal", original["action_id"]),
                        "decision_id": d.decision_id,
                        "issued_at": plan.now,
                    },
                    reverses=original["action_id"],
                    causation_id=event.event_id,
                )
                plan.events.append(reversal)
                plan.counts[("action", original["action"], "reversed")] += 1
                plan.record(
                    "action_reversed",
                    d,
                    (d.actor.kind, d.actor.actor_id),
                    action_id=original["action_id"],
                    action=original["action"],
                    previous_status=original["status"],
                    reversal_id=str(reversal.payload.action_id),
                    appeal_id=str(ref.appeal_id),
                )
            if d.outcome is Outcome.ACTION:
                acting.append(event)
        if appeal_updates:
            await conn.execute(
                appeals.update()
                .where(appeals.c.appeal_id == bindparam("a_id"))
                .values(
                    status=bindparam("a_status"),
                    appeal_decision_id=bindparam("a_decision"),
                    decided_at=bindparam("a_at"),
                    decided_by=bindparam("a_by"),
                ),
                appeal_updates,
            )
        if reversed_ids:
            await conn.execute(
                actions.update()
                .where(actions.c.action_id.in_(reversed_ids))
                .values(status="reversed", reversed_at=plan.now)
            )
        if overturned_decisions:
            await self._reverse_strikes(conn, overturned_decisions, events, plan, weights)
        return acting

    async def _reverse_strikes(
        self,
        conn: AsyncConnection,
        originals: list[uuid.UUID],
        events: list[DecisionMade],
        plan: BatchPlan,
        weights: dict[Account, int],
    ) -> None:
        result = await conn.execute(
            strikes.update()
            .where(strikes.c.decision_id.in_(originals), strikes.c.reversed_at.is_(None))
            .values(reversed_at=plan.now)
            .returning(
                strikes.c.decision_id,
                strikes.c.client_id,
                strikes.c.account_id,
                strikes.c.weight,
                strikes.c.expires_at,
            )
        )
        by_original = {
            e.payload.appeal.decision_id: e.payload for e in events if e.payload.appeal is not None
        }
        for original, client, account, weight, expires in result:
            key = (client, account)
            if key in weights and expires > plan.now:
                weights[key] = max(0, weights[key] - weight)
            plan.record(
                "strike_reversed",
                by_original[original],
                account_id=account,
                weight=weight,
                original_decision_id=str(original),
            )

    # -- writing --------------------------------------------------------------------------

    async def _write(
        self,
        conn: AsyncConnection,
        plan: BatchPlan,
        planned: asyncio.Event,
        progress: asyncio.Event,
    ) -> None:
        """The batch's rows: the decisions first, then, each time the planner hands over
        (``progress``) and once it is done (``planned``), what was planned since, one COPY per
        table. Rows of one pass are those planned before it began, table after table, and the
        audit entries after them in order, so the chain links up across passes."""
        await copy_rows(conn, decisions, plan.decision_rows)
        tables = (
            (actions, plan.action_rows),
            (strikes, plan.strike_rows),
            (evidence, plan.evidence_rows),
            (legal_reports, plan.legal_rows),
            (statements_table, plan.statement_rows),
        )
        written = [0] * len(tables)
        audited = 0
        while True:
            finished = planned.is_set()
            ends = [len(rows) for _, rows in tables]
            audit_end = len(plan.audit)
            for (table, rows), start, end in zip(tables, written, ends, strict=True):
                if end > start:
                    await copy_rows(conn, table, rows[start:end])
            written = ends
            if audit_end > audited:
                await audit.append(conn, plan.audit[audited:audit_end], locked=True)
                audited = audit_end
            if finished:
                break
            await progress.wait()
            progress.clear()
        for key, n in plan.counts.items():
            if key[0] == "decision":
                DECISIONS.labels(self.service, key[1], key[2]).inc(n)
            elif key[0] == "action":
                ACTIONS.labels(self.service, key[1], key[2]).inc(n)
            elif key[0] == "strike":
                STRIKES.labels(self.service, key[1]).inc(n)
            elif key[0] == "legal":
                LEGAL_REPORTS.labels(self.service, key[1]).inc(n)

    # -- confirmations --------------------------------------------------------------------

    async def handle_confirmations(
        self, events: list[ActionConfirmed], ctx: HandlerContext
    ) -> list[Event]:
        conn = ctx.conn
        assert conn is not None
        await confirm(
            conn,
            [
                Confirmation(
                    e.payload.action_id,
                    e.payload.status,
                    e.payload.detail,
                    e.payload.confirmed_at,
                    e.producer,
                )
                for e in events
            ],
            service=self.service,
        )
        return []


_CONFIRM = text(
    """
    UPDATE enforcement.actions AS a
       SET status = v.status,
           detail = NULLIF(v.detail, ''),
           applied_at = CASE WHEN v.status = 'applied' THEN v.at END,
           failed_at = CASE WHEN v.status = 'failed' THEN v.at END,
           next_attempt_at = NULL
      FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:details AS text[]),
                  CAST(:ats AS timestamptz[]), CAST(:clients AS text[]))
           AS v(id, status, detail, at, client)
     WHERE a.action_id = v.id AND a.client_id = v.client AND a.status IN ('requested', 'issued')
 RETURNING a.action_id, a.decision_id, a.report_id, a.subject_id, a.action, a.status,
           a.client_id
    """
)


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A product client's word on one action: applied, or could not be applied."""

    action_id: uuid.UUID
    status: ActionStatus
    detail: str
    at: datetime
    client_id: str


async def confirm(
    conn: AsyncConnection, confirmations: list[Confirmation], *, service: str
) -> dict[uuid.UUID, str]:
    """Move issued actions to applied or failed; returns the ids that moved, with the state.

    A confirmation for an action already settled (or unknown) changes nothing: clients retry.
    Only the client that owns an action can confirm it; another client's confirmation changes
    nothing and is counted (``tns_enforcement_confirmations_refused_total``).
    """
    # The latest word of each client on each action: another client's word never hides the
    # owner's (the update below matches the owner's only).
    latest = {(c.action_id, c.client_id): c for c in confirmations}
    await audit.lock_chain(conn)
    moved = (
        await conn.execute(
            _CONFIRM,
            {
                "ids": [c.action_id for c in latest.values()],
                "statuses": [c.status.value for c in latest.values()],
                "details": [c.detail for c in latest.values()],
                "ats": [c.at for c in latest.values()],
                "clients": [c.client_id for c in latest.values()],
            },
        )
    ).all()
    if len(moved) < len(latest):
        await _count_refused(
            conn, latest, {(row.action_id, row.client_id) for row in moved}, service
        )
    now = utcnow()
    entries = []
    for row in moved:
        ACTIONS.labels(service, row.action, row.status).inc()
        entries.append(
            AuditEntry(
                actor_kind="client",
                actor_id=row.client_id,
                act=f"action_{row.status}",
                recorded_at=now,
                subject_id=row.subject_id,
                report_id=row.report_id,
                decision_id=row.decision_id,
                action_id=row.action_id,
                details={
                    "status": row.status,
                    "detail": latest[(row.action_id, row.client_id)].detail,
                },
                client_id=row.client_id,
            )
        )
    await audit.append(conn, entries, locked=True)
    return {row.action_id: row.status for row in moved}


async def _count_refused(
    conn: AsyncConnection,
    latest: dict[tuple[uuid.UUID, str], Confirmation],
    moved: set[tuple[uuid.UUID, str]],
    service: str,
) -> None:
    """Count the confirmations that named another client's action (and log them, once)."""
    rest = [c for key, c in latest.items() if key not in moved]
    owners = (
        await conn.execute(
            select(actions.c.action_id, actions.c.client_id).where(
                actions.c.action_id == any_(bindparam("ids", type_=_UUIDS))
            ),
            {"ids": list({c.action_id for c in rest})},
        )
    ).all()
    owner_of = dict(owners)
    foreign = [c for c in rest if c.action_id in owner_of and owner_of[c.action_id] != c.client_id]
    if foreign:
        CONFIRMATIONS_REFUSED.labels(service, "other_client").inc(len(foreign))
        logger.warning(
            "refused %d confirmation(s) from clients that do not own the action, e.g. %s by %r",
            len(foreign),
            foreign[0].action_id,
            foreign[0].client_id,
        )

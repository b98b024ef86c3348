"""Enforcement's handlers: each batch is read, planned, then written.

One transaction per batch (the consumer loop's). The audit chain's lock is taken first, so
strike counts and ledger states read here cannot race another replica. Every id is derived
from the decision, so a replayed decision inserts nothing and publishes the same ids. The
reads and writes are :mod:`services.enforcement.repository`'s, the planning is
:mod:`services.enforcement.planner`'s (no I/O).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import uuid
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.enforcement import audit, repository
from services.enforcement.bulk import copy_rows
from services.enforcement.confirmations import Confirmation, confirm
from services.enforcement.ladder import EnforcementPolicy
from services.enforcement.metrics import (
    ACTIONS,
    APPEAL_DECISION_SECONDS,
    APPEALS_DECIDED,
    DECISIONS,
    LEGAL_REPORTS,
    STRIKES,
)
from services.enforcement.models import (
    actions,
    decisions,
    evidence,
    legal_reports,
    strikes,
)
from services.enforcement.models import statements as statements_table
from services.enforcement.plan import Account, BatchPlan, account_of
from services.enforcement.planner import Planner
from services.enforcement.settings import EnforcementSettings
from shared.events import ActionConfirmed, DecisionMade, Event, Outcome, utcnow
from shared.kafka.consumer import HandlerContext

# Decisions planned between two hand-overs to the writer: PostgreSQL inserts one slice's rows
# while the next slice is planned, instead of all of them after the whole batch is planned.
PLAN_SLICE = 250
# The writer moves one step (one COPY) each time the planner lets it run: often enough that it
# keeps up with the slices.
PLAN_YIELD = 25


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a batch is planned and written.

    A batch's rows, events and audit entries (a few hundred thousand objects for 2,000
    decisions) all live until it is committed, so every young-generation collection during the
    batch walked them in vain. They are freed by reference counting when the batch ends;
    cycles made meanwhile wait for the next collection.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Enforcer:
    """The decision and confirmation handlers, with the policy and settings they apply."""

    def __init__(self, settings: EnforcementSettings, policy: EnforcementPolicy) -> None:
        self.settings = settings
        self.policy = policy
        self.service = settings.service_name
        self.planner = Planner(
            policy,
            confirm_timeout_s=settings.action_confirm_timeout_s,
            appeal_window_months=settings.appeal_window_months,
        )

    # -- decisions ------------------------------------------------------------------------

    async def handle_decisions(
        self, events: list[DecisionMade], ctx: HandlerContext
    ) -> list[Event]:
        with _collector_paused():
            return await self._handle_decisions(events, ctx)

    async def _handle_decisions(
        self, events: list[DecisionMade], ctx: HandlerContext
    ) -> list[Event]:
        conn = ctx.conn
        assert conn is not None
        plan = BatchPlan(now=utcnow(), service=self.service)
        await audit.lock_chain(conn)
        by_id = {e.payload.decision_id: e for e in events}
        # Under the chain lock no other writer can insert these between the check and the copy.
        known = await repository.known_decisions(conn, ids=list(by_id))
        fresh = [by_id[d] for d in by_id if d not in known]
        appeal_events = [e for e in fresh if e.payload.appeal is not None]
        plan.clients = {e.payload.decision_id: e.payload.client_id for e in fresh}
        lodged: dict[uuid.UUID, tuple[str | None, datetime]] = {}
        if appeal_events:
            lodged = await repository.lodged_appeals(
                conn,
                appeal_ids=[e.payload.appeal.appeal_id for e in appeal_events if e.payload.appeal],
            )
            # An appeal's decision belongs to the client that owns the appeal (and the decision
            # appealed), whatever client the event names.
            for e in appeal_events:
                assert e.payload.appeal is not None
                if e.payload.appeal.appeal_id in lodged:
                    plan.clients[e.payload.decision_id] = lodged[e.payload.appeal.appeal_id][0]
        plan.decision_rows = [self.planner.decision_row(e, plan) for e in fresh]
        accounts = {
            (plan.clients[e.payload.decision_id], a)
            for e in fresh
            if e.payload.outcome is Outcome.ACTION and (a := account_of(e.payload.subject))
        }
        weights = (
            await repository.active_weights(conn, accounts=accounts, now=plan.now)
            if accounts
            else {}
        )
        acting: list[DecisionMade] = [e for e in fresh if e.payload.appeal is None]
        if appeal_events:
            acting += await self._decide_appeals(conn, appeal_events, plan, weights, lodged)
        # PostgreSQL takes the decisions while the batch is planned, each slice's rows while
        # the next slice is planned, and the rest while the events are serialised and handed
        # to the broker (acknowledged before the commit).
        planned, progress = asyncio.Event(), asyncio.Event()
        write = asyncio.create_task(self._write(conn, plan, planned, progress))
        try:
            await asyncio.sleep(0)  # the decisions' COPY is on its way
            for i, event in enumerate(acting, 1):
                self.planner.plan_decision(event, plan, weights)
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

    # -- appeals --------------------------------------------------------------------------

    async def _decide_appeals(
        self,
        conn: AsyncConnection,
        events: list[DecisionMade],
        plan: BatchPlan,
        weights: dict[Account, int],
        lodged: dict[uuid.UUID, tuple[str | None, datetime]],
    ) -> list[DecisionMade]:
        """Settle appeals (read, plan, write); returns the appeal decisions that issue actions
        of their own."""
        originals = [e.payload.appeal.decision_id for e in events if e.payload.appeal]
        live = await repository.live_actions(conn, decision_ids=originals)
        settled = self.planner.plan_appeals(
            events,
            plan,
            lodged_at={appeal_id: at for appeal_id, (_, at) in lodged.items()},
            live_actions=live,
        )
        if settled.overturned_decisions:
            lost = await repository.active_strikes_of(
                conn, decision_ids=settled.overturned_decisions
            )
            self.planner.plan_strike_reversals(lost, events, plan, weights)
        await repository.settle_appeals(
            conn,
            updates=settled.appeal_updates,
            reversed_action_ids=settled.reversed_ids,
            overturned_decisions=settled.overturned_decisions,
            now=plan.now,
        )
        for r in settled.results:
            APPEALS_DECIDED.labels(self.service, r.policy_area, r.result).inc()
            if r.lodged_at is not None:
                APPEAL_DECISION_SECONDS.labels(self.service, r.policy_area).observe(
                    (plan.now - r.lodged_at).total_seconds()
                )
        return settled.acting

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

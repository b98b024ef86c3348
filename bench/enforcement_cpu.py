"""``python -m bench.enforcement_cpu``: where a decision batch's CPU goes inside enforcement.

No broker and no database: one batch of decisions like the bench's (``BATCH_MAX``, each acting
on content) is parsed, planned, serialised and hashed in this process, stage by stage, with
``time.process_time``; each stage is reported by its best of ``--rounds`` rounds (a shared
machine only ever slows a round down), in microseconds per decision. The collector runs as in
the service (start-up heap frozen, the same thresholds; paused during a batch as the handler
does, and measured apart with ``--collector``). What the bench adds on top is the I/O: COPY
encoding, the broker client, SQLAlchemy and the event loop.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

from bench.enforcement import BATCH_MAX
from services.enforcement import audit
from services.enforcement.ladder import load_policy
from services.enforcement.plan import BatchPlan
from services.enforcement.planner import Planner
from services.enforcement.settings import EnforcementSettings
from shared.events import DecisionMade, utcnow
from shared.service import freeze_startup_heap
from tests.factories import make_decision


def _stages(planner: Planner, raw: list[bytes]) -> list[tuple[str, Callable[[Any], Any]]]:
    def parse(_: Any) -> list[DecisionMade]:
        return [DecisionMade.from_bytes(r) for r in raw]

    def rows(events: list[DecisionMade]) -> tuple[list[DecisionMade], BatchPlan]:
        plan = BatchPlan(now=utcnow(), service="enforcement")
        plan.clients = {e.payload.decision_id: e.payload.client_id for e in events}
        plan.decision_rows = [planner.decision_row(e, plan) for e in events]
        return events, plan

    def decide(state: tuple[list[DecisionMade], BatchPlan]) -> BatchPlan:
        events, plan = state
        weights: dict[Any, int] = {}
        for e in events:
            planner.plan_decision(e, plan, weights)
        return plan

    def serialise(plan: BatchPlan) -> BatchPlan:
        for e in plan.events:
            e.key(), e.to_bytes()
        return plan

    def chain(plan: BatchPlan) -> BatchPlan:
        # What ``audit.append`` does before its COPY: each record's hash and its details' JSON.
        audit.chain_records(plan.audit, 0, audit.GENESIS)
        return plan

    return [
        ("parse DecisionMade", parse),
        ("decision rows", rows),
        ("plan (actions, statements, holds, notices, audit)", decide),
        ("serialise events", serialise),
        ("audit hashes", chain),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.enforcement_cpu")
    p.add_argument("--batch", type=int, default=BATCH_MAX, help="decisions per batch")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument(
        "--collector", action="store_true", help="leave the collector on during the batch"
    )
    args = p.parse_args(argv)
    settings = EnforcementSettings()
    planner = Planner(
        load_policy(settings.policy_path),
        confirm_timeout_s=settings.action_confirm_timeout_s,
        appeal_window_months=settings.appeal_window_months,
    )
    raw = [make_decision().to_bytes() for _ in range(args.batch)]
    stages = _stages(planner, raw)
    freeze_startup_heap()
    best = dict.fromkeys((name for name, _ in stages), float("inf"))
    best["whole batch"] = float("inf")
    for _ in range(args.rounds + 2):  # two warm-up rounds count as well: best-of ignores them
        if not args.collector:
            gc.disable()
        try:
            started = time.process_time()
            state: Any = None
            for name, stage in stages:
                at = time.process_time()
                state = stage(state)
                best[name] = min(best[name], time.process_time() - at)
            best["whole batch"] = min(best["whole batch"], time.process_time() - started)
            del state
        finally:
            gc.enable()
    width = max(map(len, best))
    collector = "on" if args.collector else "paused"
    print(f"enforcement in-process CPU, batch of {args.batch}, collector {collector}, best of")
    print(f"{args.rounds + 2} rounds, microseconds per decision:")
    for name, seconds in best.items():
        print(f"  {name:<{width}}  {seconds / args.batch * 1e6:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

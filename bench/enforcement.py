"""Enforcement throughput: DecisionMade in, ActionIssued out, audit rows in PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import PARTITIONS, OutputCounter, Timed, new_namespace, produce, timed
from services.enforcement.app import create_app
from services.enforcement.settings import EnforcementSettings
from shared.kafka.topics import Topics, ensure_topics
from tests.factories import make_decision
from tests.harness import running


async def _audit_rows(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(text("SELECT to_regclass('enforcement.audit_log')"))
            if exists is None:
                return 0
            return int(await conn.scalar(text("SELECT count(*) FROM enforcement.audit_log")))
    finally:
        await engine.dispose()


async def _time_enforcement(env: dict[str, Any], n: int) -> tuple[Timed, int, str]:
    bootstrap = env["kafka_bootstrap_servers"]
    ns = new_namespace("e")
    topics = Topics(ns)
    decisions = [make_decision() for _ in range(n)]  # unique subjects, all with actions
    await produce(bootstrap, topics.decisions, [(d.key(), d.to_bytes()) for d in decisions])
    await ensure_topics(bootstrap, [topics.actions], PARTITIONS)
    before = await _audit_rows(env["database_url"])
    async with OutputCounter(bootstrap, topics.actions) as out:
        started = time.monotonic()
        async with running(create_app(EnforcementSettings(**{**env, "topic_namespace": ns}))):
            count = await out.wait_for(n, timeout=max(60.0, n / 100))
        result = timed(n, started, count)
    # The app has stopped: every batch is committed, so the rows are all there.
    after = await _audit_rows(env["database_url"])
    engine = create_async_engine(env["database_url"])
    try:
        async with engine.connect() as conn:
            sync_commit = await conn.scalar(text("SHOW synchronous_commit"))
    finally:
        await engine.dispose()
    return result, after - before, str(sync_commit)


TARGET_RATE = 5_000.0


async def run(env: dict[str, Any], n: int, warmup: int) -> list[dict[str, Any]]:
    await _time_enforcement(env, warmup)  # warm-up, also applies the migrations
    enf, audit_rows, sync_commit = await _time_enforcement(env, n)
    return [
        {
            "section": "enforcement",
            "what": f"enforcement throughput (decisions/s, sync_commit={sync_commit})",
            "value": round(enf.rate, 1),
            "target": f">= {TARGET_RATE:.0f}",
            "pass": enf.rate >= TARGET_RATE,
            "detail": enf.as_dict(),
        },
        {
            "section": "enforcement",
            "what": "audit rows written (expect 2 x N)",
            "value": audit_rows,
            "target": f"== {2 * n}",
            "pass": audit_rows == 2 * n,
        },
    ]

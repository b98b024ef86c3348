"""Enforcement throughput: DecisionMade in; ActionIssued, notices, statements and audit rows out.

The service is started first and a warm-up decision is waited for, so the consumer-group join
(about 5 s) is not in the measurement; then the timed batch is produced and the clock runs
until its last ``ActionIssued`` is on the topic. ``synchronous_commit`` stays on.
"""

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

TARGET_RATE = 5_000.0
BATCH_MAX = 2_000  # decisions per consumer batch (one transaction each)


async def _scalar(url: str, sql: str) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text(sql))
    finally:
        await engine.dispose()


async def _audit_rows(url: str) -> int:
    if await _scalar(url, "SELECT to_regclass('enforcement.audit_log')") is None:
        return 0
    return int(await _scalar(url, "SELECT count(*) FROM enforcement.audit_log"))


async def _time_enforcement(env: dict[str, Any], n: int, warmup: int) -> tuple[Timed, int]:
    bootstrap = env["kafka_bootstrap_servers"]
    ns = new_namespace("e")
    topics = Topics(ns)
    await ensure_topics(bootstrap, [topics.decisions, topics.actions], PARTITIONS)
    settings = EnforcementSettings(
        **{**env, "topic_namespace": ns, "consumer_batch_max": BATCH_MAX}
    )
    warm = [make_decision() for _ in range(max(1, warmup))]
    decisions = [make_decision() for _ in range(n)]  # unique subjects, all with actions
    async with OutputCounter(bootstrap, topics.actions) as out:
        async with running(create_app(settings)):
            await produce(bootstrap, topics.decisions, [(d.key(), d.to_bytes()) for d in warm])
            await out.wait_for(len(warm), timeout=120)
            before = await _audit_rows(env["database_url"])
            out.reset()  # count the timed batch on its own
            started = time.monotonic()
            await produce(bootstrap, topics.decisions, [(d.key(), d.to_bytes()) for d in decisions])
            count = await out.wait_for(n, timeout=max(60.0, n / 100))
            result = timed(n, started, count)
        # The app has stopped: every batch is committed, so the rows are all there.
        after = await _audit_rows(env["database_url"])
    return result, after - before


async def run(env: dict[str, Any], n: int, warmup: int) -> list[dict[str, Any]]:
    enf, audit_rows = await _time_enforcement(env, n, warmup)
    sync_commit = await _scalar(env["database_url"], "SHOW synchronous_commit")
    return [
        {
            "section": "enforcement",
            "what": f"enforcement throughput (decisions/s, sync_commit={sync_commit})",
            "value": round(enf.rate, 1),
            "target": f">= {TARGET_RATE:.0f}",
            "pass": enf.rate >= TARGET_RATE,
            "detail": {**enf.as_dict(), "consumer_batch_max": BATCH_MAX},
        },
        {
            "section": "enforcement",
            "what": "audit rows written (decision + action each: expect 2 x N)",
            "value": audit_rows,
            "target": f"== {2 * n}",
            "pass": audit_rows == 2 * n,
        },
    ]

"""Enforcement throughput: DecisionMade in; ActionIssued, notices, statements and audit rows out.

The service runs as its own process (``python -m services.enforcement serve``), as in
production, on decisions that are already on its input topic; it is timed from the moment the
warm-up's actions are out to the moment the last action is (see ``timed_process``). Every
decision acts on content, so each writes the decision, the action, its statement of reasons,
its evidence record and two audit rows, and publishes the action and the notifier's notice.
``synchronous_commit`` stays on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import new_namespace, produce, timed_process
from shared.kafka.topics import Topics
from tests.factories import make_decision

TARGET_RATE = 5_000.0
TARGET_RSS_MIB = 200.0
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


async def run(env: dict[str, Any], n: int, warmup: int) -> list[dict[str, Any]]:
    warmup = max(warmup, 1)
    bootstrap = env["kafka_bootstrap_servers"]
    ns = new_namespace("e")
    topics = Topics(ns)
    decisions = [make_decision() for _ in range(warmup + n)]  # unique subjects, all acting
    await produce(bootstrap, topics.decisions, [(d.key(), d.to_bytes()) for d in decisions])
    before = await _audit_rows(env["database_url"])
    enf, memory = await timed_process(
        {**env, "topic_namespace": ns, "consumer_batch_max": BATCH_MAX},
        ["services.enforcement", "serve"],
        topics.actions,
        warmup=warmup,
        n=n,
    )
    # The process has stopped: every batch is committed, so the rows are all there.
    audit_rows = await _audit_rows(env["database_url"]) - before
    sync_commit = await _scalar(env["database_url"], "SHOW synchronous_commit")
    expected = 2 * (warmup + n)
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
            "what": "audit rows written (decision + action each: expect 2 x all decisions)",
            "value": audit_rows,
            "target": f"== {expected}",
            "pass": audit_rows == expected,
        },
        {
            "section": "enforcement",
            "what": "enforcement RSS after the run, MiB (its processes together)",
            "value": round(memory.get("rss_mib", float("nan")), 1),
            "target": f"<= {TARGET_RSS_MIB:.0f}",
            "pass": memory.get("rss_mib", float("inf")) <= TARGET_RSS_MIB,
        },
    ]

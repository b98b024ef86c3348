"""The short version of every drill of ``make drills`` (bench/drills.py), under a light load.

One pipeline (the four services as processes) serves every drill in turn, on a PostgreSQL of
its own: the ``postgres`` drill stops it, and the other tests' connections are not to suffer.
Each drill asserts what a client and the affected users would notice: every accepted notice
decided exactly once and done, every action once, no second report for one notice, the audit
chain intact, and the pipeline caught up within a bound after the failure.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bench.drills import DRILLS, drill, summary
from bench.pipeline import Pipeline, Watcher
from devstack.embedded import EmbeddedKafka, EmbeddedPostgres

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.timeout(600),  # the first one starts the four services
]

RATE = 40.0  # notices per second
SECONDS = 6.0  # of load per drill; the failure comes a third of the way in
RECOVERY_BOUND_S = 60.0


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedPostgres:
    datadir = Path(f"/tmp/tns-drill-pg-{id(tmp_path_factory)}")
    server = EmbeddedPostgres(datadir).start()
    yield server  # type: ignore[misc]
    server.stop()
    shutil.rmtree(datadir, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def running(
    kafka: EmbeddedKafka, own_postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Pipeline, Watcher, Path]]:
    logs = tmp_path_factory.mktemp("drills")
    pipeline = Pipeline(kafka, own_postgres, "drill.", logs)
    try:
        await pipeline.start()
        async with Watcher(kafka.bootstrap_servers, pipeline.topics) as watcher:
            yield pipeline, watcher, logs
    finally:
        pipeline.stop()


@pytest.mark.parametrize("name", list(DRILLS))
async def test_drill(name: str, running: tuple[Pipeline, Watcher, Path]) -> None:
    pipeline, watcher, logs = running
    seed = list(DRILLS).index(name) + 1
    result = await drill(pipeline, watcher, name, rate=RATE, seconds=SECONDS, seed=seed, tmp=logs)
    print(summary(result))  # the figures, with -s
    checks = result["checks"]
    assert checks["accepted"] >= RATE * SECONDS * 0.9, result  # the client got through
    assert (checks["lost"], checks["decided_twice"], checks["actions_twice"]) == (0, 0, 0), result
    assert checks["decided_unknown_report"] == 0, result  # no notice became two reports
    assert checks["keys_accepted_twice"] == 0, result
    assert checks["stored_duplicates"] == 0, result  # in enforcement's own tables too
    assert result["audit_verifies"], result
    assert result["recovery_s"] is not None and result["recovery_s"] < RECOVERY_BOUND_S, result
    if name.startswith("kill-"):
        # Served again, and at work again (its own stage written), within the bound.
        assert result["ready_s"] < RECOVERY_BOUND_S, result
        assert result["working_again_s"] is not None, result
        assert result["working_again_s"] < RECOVERY_BOUND_S, result
    if name == "poison":
        assert result["malformed_refused"] > 0 and result["malformed_not_refused"] == 0, result

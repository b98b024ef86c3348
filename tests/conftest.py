"""Session fixtures: a real Kafka-protocol broker and a real PostgreSQL, started for the run.

In CI (``CI=true``) a component that cannot start fails the run; nothing is skipped.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres


@pytest.fixture(scope="session")
def kafka() -> Iterator[EmbeddedKafka]:
    broker = EmbeddedKafka().start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    # A short path: the unix socket lives in the data dir and sockets have a ~100-byte limit.
    datadir = Path(f"/tmp/tns-test-pg-{os.getpid()}")
    server = EmbeddedPostgres(datadir).start()
    yield server
    server.stop()
    shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture
def namespace() -> str:
    """A topic prefix of this test's own, so tests never see each other's messages."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest_asyncio.fixture(loop_scope="session")
async def db(postgres: EmbeddedPostgres) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(postgres.url)
    yield engine
    await engine.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: an integration test must reach its components."""
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        reporter.write_line(
            f"CI: {len(skipped)} test(s) skipped; skips are failures in CI", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

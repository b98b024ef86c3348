"""The statement-of-reasons submitter against a local server that behaves like the
Commission's Transparency Database API (201, 422 with duplicate puids or field errors, 429)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from jsonschema import Draft202012Validator
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.enforcement.app import create_app
from services.enforcement.sor import SOR_SCHEMA_PATH, puid_for
from services.enforcement.submitter import export_batches
from shared.events import derive_id
from shared.kafka.topics import Topics
from tests.harness import eventually
from tests.integration.test_enforcement_lifecycle import decision, send, settings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

TOKEN = "test-token-123"
SCHEMA = Draft202012Validator(json.loads(SOR_SCHEMA_PATH.read_text()))


class FakeTransparencyDatabase:
    """Validates like the API: whole batch refused on any error; puids unique per platform."""

    def __init__(
        self, *, already_held: set[str], poisoned: set[str], rate_limit_first: int
    ) -> None:
        self.stored: dict[str, dict[str, Any]] = {p: {} for p in already_held}
        self.received: list[tuple[float, int, list[str]]] = []  # (time, status, puids)
        self.poisoned = poisoned
        self.rate_limit_left = rate_limit_first
        self.app = FastAPI()
        self.app.post("/api/v1/statements")(self.statements)

    async def statements(self, request: Request) -> JSONResponse:
        body = await request.json()
        puids = [s.get("puid") for s in body.get("statements", [])]
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return self._answer(401, puids, {"message": "Unauthenticated."})
        if self.rate_limit_left > 0:
            self.rate_limit_left -= 1
            return self._answer(429, puids, {"message": "Too Many Attempts."}, {"Retry-After": "1"})
        errors: dict[str, list[str]] = {}
        for i, statement in enumerate(body["statements"]):
            for e in SCHEMA.iter_errors(statement):
                errors[f"statements.{i}.{'.'.join(map(str, e.path)) or 'statement'}"] = [e.message]
            if statement["puid"] in self.poisoned:
                errors[f"statements.{i}.decision_facts"] = ["The decision facts are not clear."]
        existing = [p for p in puids if p in self.stored]
        if existing:
            return self._answer(
                422,
                puids,
                {
                    "message": "The identifier given is not unique within this platform.",
                    "errors": {
                        "puid": ["The identifier given is not unique within this platform."]
                    },
                    "existing_puids": existing,
                },
            )
        if errors:
            return self._answer(
                422, puids, {"message": "The given data was invalid.", "errors": errors}
            )
        for statement in body["statements"]:
            self.stored[statement["puid"]] = statement
        return self._answer(201, puids, {"statements": body["statements"]})

    def _answer(
        self,
        status: int,
        puids: list[str],
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        self.received.append((time.monotonic(), status, puids))
        return JSONResponse(body, status_code=status, headers=headers)


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0, server.started))
    try:
        yield f"http://127.0.0.1:{port}/api/v1/statements"
    finally:
        server.should_exit = True
        await task


async def test_submitter_sends_each_statement_once_and_handles_201_422_429(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    db: AsyncEngine,
    tmp_path: Path,
) -> None:
    topics = Topics(namespace)
    decisions = [decision() for _ in range(5)]
    puids = [
        puid_for(derive_id("action", d.payload.decision_id, "remove_content")) for d in decisions
    ]
    sent_before, poisoned = puids[0], puids[1]
    fake = FakeTransparencyDatabase(
        already_held={sent_before}, poisoned={poisoned}, rate_limit_first=1
    )
    async with serving(fake.app) as url:
        app = create_app(
            settings(
                kafka,
                postgres,
                namespace,
                sor_api_url=url,
                sor_api_token=TOKEN,
                sor_poll_interval_s=0.1,
                sor_backoff_initial_s=0.2,
            )
        )
        async with app.router.lifespan_context(app):
            await send(kafka, topics.decisions, *decisions)

            async def settled() -> dict[str, tuple[str, str | None]] | None:
                async with db.connect() as conn:
                    rows = (
                        await conn.execute(
                            text(
                                "SELECT puid, submission_status, last_error "
                                "FROM enforcement.statements_of_reasons WHERE puid = ANY(:p)"
                            ),
                            {"p": puids},
                        )
                    ).all()
                done = {r.puid: (r.submission_status, r.last_error) for r in rows}
                ready = len(done) == 5 and all(s != "pending" for s, _ in done.values())
                return done if ready else None

            outcome = await eventually(settled, timeout=60)
    assert outcome[sent_before] == ("duplicate", None)
    status, error = outcome[poisoned]
    assert status == "rejected" and error is not None and "decision facts" in error
    for puid in puids[2:]:
        assert outcome[puid] == ("submitted", None)
        assert fake.stored[puid]["puid"] == puid
    # Each of ours was accepted at most once, and nothing was sent before Retry-After ran out.
    accepted = [p for _, status, ps in fake.received if status == 201 for p in ps]
    assert [accepted.count(p) for p in puids] == [0, 0, 1, 1, 1]
    limited = [t for t, status, _ in fake.received if status == 429]
    assert limited
    later = [t for t, _, _ in fake.received if t > limited[0]]
    assert later and min(later) - limited[0] >= 0.9
    # The exporter writes the same request bodies, at most 100 statements each.
    batches = [b async for b in export_batches(db)]
    assert batches and all(1 <= len(b) <= 100 for b in batches)
    exported = {s["puid"] for b in batches for s in b}
    assert set(puids) <= exported
    for batch in batches:
        for statement in batch:
            assert not list(SCHEMA.iter_errors(statement))

"""Statements of reasons out to the Commission's Transparency Database, through an outbox.

Statements are written to ``statements_of_reasons`` in the same transaction as the action, with
``submission_status = 'pending'``: that row is the outbox. The submitter (off unless an endpoint
URL and a token are configured) sends pending rows in batches of at most 100 and records what
the API said, in a transaction that holds the rows, so two replicas never send the same rows:

* 201: every statement in the batch is ``submitted``;
* 422 naming puids the database already holds (``existing_puids``), or a single statement
  refused for its puid: ``duplicate`` (it was sent before: never sent twice, never lost);
* 422 naming statements by index (``statements.3.category``): those are ``rejected`` with the
  error and counted; the rest stay pending for the next pass; a 422 naming none is retried
  statement by statement to find the culprit;
* 429: nothing changes; the submitter pauses for ``Retry-After`` (or a doubling backoff);
* anything else (5xx, network): nothing changes; doubling backoff.

The exporter writes the same request bodies to files, for platforms that upload by hand.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from services.enforcement import repository
from services.enforcement.metrics import SOR_SUBMISSIONS
from services.enforcement.settings import EnforcementSettings
from services.enforcement.sor import MAX_BATCH_SIZE
from shared.events import utcnow

logger = logging.getLogger(__name__)

_INDEXED = re.compile(r"^statements\.(\d+)\.")


@dataclass(slots=True)
class Verdict:
    """What the API said about each puid of one attempt; puids absent stay pending."""

    status: dict[str, str] = field(default_factory=dict)  # puid -> submitted|duplicate|rejected
    errors: dict[str, str] = field(default_factory=dict)
    pause_s: float | None = None


def retry_after_seconds(value: str | None, default: float) -> float:
    """``Retry-After`` as seconds: a number, or an HTTP date; ``default`` when absent or bad."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, (when - utcnow()).total_seconds())


class Submitter:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: EnforcementSettings,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        assert settings.sor_api_url and settings.sor_api_token, "submitter is not configured"
        self.engine = engine
        self.settings = settings
        self.url = settings.sor_api_url
        self.client = client or httpx.AsyncClient(timeout=settings.sor_timeout_s)
        self._headers = {
            "Authorization": f"Bearer {settings.sor_api_token}",
            "Accept": "application/json",
        }
        self._resume_at = 0.0
        self._backoff = settings.sor_backoff_initial_s

    async def close(self) -> None:
        await self.client.aclose()

    async def run_once(self) -> dict[str, int]:
        """Send one batch of pending statements; returns how many ended in each status."""
        if time.monotonic() < self._resume_at:
            return {}
        now = utcnow()
        async with self.engine.begin() as conn:
            rows = await repository.pending_statements(
                conn, now=now, limit=self.settings.sor_batch_size
            )
            if not rows:
                return {}
            verdict = await self._send(rows)
            updates = [
                {
                    "b_puid": puid,
                    "b_status": status,
                    "b_error": verdict.errors.get(puid),
                    "b_at": now if status != "rejected" else None,
                }
                for puid, status in verdict.status.items()
            ]
            await repository.record_submissions(conn, updates=updates)
        if verdict.pause_s is not None:
            self._resume_at = time.monotonic() + verdict.pause_s
        else:
            self._backoff = self.settings.sor_backoff_initial_s
        counts: dict[str, int] = {}
        for status in verdict.status.values():
            counts[status] = counts.get(status, 0) + 1
        return counts

    async def _send(self, batch: list[tuple[str, dict[str, Any]]]) -> Verdict:
        verdict = Verdict()
        try:
            response = await self.client.post(
                self.url, json={"statements": [s for _, s in batch]}, headers=self._headers
            )
        except httpx.HTTPError as exc:
            return self._pause(verdict, "error", f"{type(exc).__name__}: {exc}")
        if response.status_code in (200, 201):
            for puid, _ in batch:
                verdict.status[puid] = "submitted"
            SOR_SUBMISSIONS.labels(self.settings.service_name, "submitted").inc(len(batch))
            return verdict
        if response.status_code == 429:
            SOR_SUBMISSIONS.labels(self.settings.service_name, "rate_limited").inc()
            verdict.pause_s = retry_after_seconds(
                response.headers.get("Retry-After"), self._next_backoff()
            )
            logger.warning("transparency database rate-limited us for %.1fs", verdict.pause_s)
            return verdict
        if response.status_code == 422:
            return await self._unprocessable(batch, response, verdict)
        return self._pause(verdict, "error", f"HTTP {response.status_code}: {response.text[:500]}")

    async def _unprocessable(
        self, batch: list[tuple[str, dict[str, Any]]], response: httpx.Response, verdict: Verdict
    ) -> Verdict:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        puids = [p for p, _ in batch]
        for puid in body.get("existing_puids") or ():
            if puid in puids:
                verdict.status[puid] = "duplicate"
        errors = body.get("errors") if isinstance(body.get("errors"), dict) else {}
        for key, messages in (errors or {}).items():
            match = _INDEXED.match(str(key))
            if match and int(match.group(1)) < len(batch):
                puid = puids[int(match.group(1))]
                if puid not in verdict.status:
                    verdict.status[puid] = "rejected"
                    verdict.errors[puid] = f"{key}: {_messages(messages)}"[:2000]
        if not verdict.status:
            message = str(body.get("message") or response.text)[:2000]
            if len(batch) == 1:
                puid = puids[0]
                puid_errors = (errors or {}).get("puid")
                if puid_errors is not None or "puid" in message.lower():
                    verdict.status[puid] = "duplicate"
                else:
                    verdict.status[puid] = "rejected"
                    verdict.errors[puid] = message
            else:
                # The API refused the batch without saying which statement: find it alone.
                for item in batch:
                    single = await self._send([item])
                    verdict.status.update(single.status)
                    verdict.errors.update(single.errors)
                    if single.pause_s is not None:
                        verdict.pause_s = single.pause_s
                        break
                return verdict
        for status in ("duplicate", "rejected"):
            n = sum(1 for s in verdict.status.values() if s == status)
            if n:
                SOR_SUBMISSIONS.labels(self.settings.service_name, status).inc(n)
        return verdict

    def _pause(self, verdict: Verdict, result: str, error: str) -> Verdict:
        SOR_SUBMISSIONS.labels(self.settings.service_name, result).inc()
        verdict.pause_s = self._next_backoff()
        logger.warning("statement submission failed (%s); pausing %.1fs", error, verdict.pause_s)
        return verdict

    def _next_backoff(self) -> float:
        delay = self._backoff
        self._backoff = min(self._backoff * 2, self.settings.sor_backoff_max_s)
        return delay


def _messages(value: object) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


async def export_batches(
    engine: AsyncEngine, *, status: str | None = None, since: datetime | None = None
) -> AsyncIterator[list[dict[str, Any]]]:
    """Statements in API request batches of at most 100, oldest first."""
    batch: list[dict[str, Any]] = []
    async with engine.connect() as conn:
        async for statement in repository.stream_statements(conn, status=status, since=since):
            batch.append(statement)
            if len(batch) == MAX_BATCH_SIZE:
                yield batch
                batch = []
    if batch:
        yield batch


def write_batch(out_dir: Path, number: int, batch: list[dict[str, Any]]) -> Path:
    """One request body (``{"statements": [...]}``) as ``statements-NNNNNN.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"statements-{number:06d}.json"
    path.write_text(json.dumps({"statements": batch}, ensure_ascii=False), encoding="utf-8")
    return path

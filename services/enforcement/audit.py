"""The audit trail: append-only, hash-chained, verifiable.

Every row holds the hash of the row before it; a row's hash covers its sequence number, its
content and that previous hash. Editing, deleting or reordering any row breaks the chain from
that row on, and ``verify`` names the first row where it breaks.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.enforcement.models import audit_log

GENESIS = "0" * 64
# One chain, one writer at a time: the lock is held to the end of the appending transaction.
_CHAIN_LOCK = 0x7A5D17


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor_kind: str  # "policy" | "reviewer" | "system"
    actor_id: str
    act: str  # e.g. "decision_recorded", "action_issued"
    recorded_at: datetime
    subject_id: str | None = None
    report_id: uuid.UUID | None = None
    decision_id: uuid.UUID | None = None
    action_id: uuid.UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def row_hash(seq: int, prev_hash: str, row: dict[str, Any]) -> str:
    """The hash of one audit row, from its stored values."""
    recorded_at: datetime = row["recorded_at"]
    canonical = {
        "seq": seq,
        "prev_hash": prev_hash,
        "recorded_at": recorded_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_kind": row["actor_kind"],
        "actor_id": row["actor_id"],
        "act": row["act"],
        "subject_id": row["subject_id"],
        "report_id": _opt_str(row["report_id"]),
        "decision_id": _opt_str(row["decision_id"]),
        "action_id": _opt_str(row["action_id"]),
        "details": row["details"],
    }
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def append(conn: AsyncConnection, entries: Sequence[AuditEntry]) -> None:
    """Append entries to the chain inside the caller's transaction, in one bulk insert."""
    if not entries:
        return
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
    head = (
        await conn.execute(
            select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
        )
    ).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    rows = []
    for entry in entries:
        seq += 1
        row: dict[str, Any] = {
            "recorded_at": entry.recorded_at,
            "actor_kind": entry.actor_kind,
            "actor_id": entry.actor_id,
            "act": entry.act,
            "subject_id": entry.subject_id,
            "report_id": entry.report_id,
            "decision_id": entry.decision_id,
            "action_id": entry.action_id,
            # Round-trip through JSON so the hash sees exactly what JSONB will return.
            "details": orjson.loads(orjson.dumps(entry.details)),
        }
        digest = row_hash(seq, prev, row)
        rows.append({**row, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    await conn.execute(audit_log.insert(), rows)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    rows_checked: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None = None
    reason: str | None = None


async def verify(engine: AsyncEngine, *, chunk: int = 5000) -> VerifyResult:
    """Walk the whole chain in order; name the first row whose hash or link does not hold."""
    prev = GENESIS
    last_seq = 0
    checked = 0
    async with engine.connect() as conn:
        while True:
            rows = (
                (
                    await conn.execute(
                        select(audit_log)
                        .where(audit_log.c.seq > last_seq)
                        .order_by(audit_log.c.seq)
                        .limit(chunk)
                    )
                )
                .mappings()
                .all()
            )
            if not rows:
                return VerifyResult(True, checked, last_seq, prev)
            for row in rows:
                seq = row["seq"]
                if seq != last_seq + 1:
                    return VerifyResult(
                        False,
                        checked,
                        last_seq,
                        prev,
                        last_seq + 1,
                        f"row {last_seq + 1} is missing",
                    )
                if row["prev_hash"] != prev:
                    return VerifyResult(
                        False,
                        checked,
                        last_seq,
                        prev,
                        seq,
                        "prev_hash does not match the previous row's hash",
                    )
                if row_hash(seq, prev, dict(row)) != row["hash"]:
                    return VerifyResult(
                        False, checked, last_seq, prev, seq, "row content does not match its hash"
                    )
                prev = row["hash"]
                last_seq = seq
                checked += 1

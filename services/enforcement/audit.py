"""The audit trail: append-only, hash-chained, verifiable.

Every row holds the hash of the row before it; a row's hash covers its sequence number, its
content and that previous hash. Editing, deleting or reordering any row breaks the chain from
that row on, and ``verify`` names the first row where it breaks.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.enforcement import repository
from services.enforcement.bulk import copy_records
from services.enforcement.models import audit_log

GENESIS = "0" * 64
# One chain, one writer at a time: the lock is held to the end of the appending transaction.
_CHAIN_LOCK = 0x7A5D17
_COLUMNS = (
    "seq",
    "prev_hash",
    "hash",
    "recorded_at",
    "actor_kind",
    "actor_id",
    "act",
    "subject_id",
    "report_id",
    "decision_id",
    "action_id",
    "case_id",
    "details",
    "client_id",
)


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
    case_id: uuid.UUID | None = None
    client_id: str | None = None


@functools.lru_cache(maxsize=64)
def _iso(at: datetime) -> str:
    # A batch's rows share one time: formatted once.
    return at.astimezone(UTC).isoformat(timespec="microseconds")


# What a row's hash covers besides its sequence number and the previous hash, in this order
# (the order of ``_COLUMNS`` after ``seq``, ``prev_hash`` and ``hash``). ``client_id``, last,
# is not covered: it says who may read the row and follows from its decision.
_CONTENT = _COLUMNS[3:-1]


def row_hash(seq: int, prev_hash: str, row: Mapping[str, Any]) -> str:
    """The hash of one audit row, from its stored values."""
    return _digest(seq, prev_hash, tuple(row.get(c) for c in _CONTENT))


def _digest(seq: int, prev_hash: str, content: tuple[Any, ...]) -> str:
    """The hash of a row whose other values are ``content``, in ``_CONTENT`` order."""
    (
        recorded_at,
        actor_kind,
        actor_id,
        act,
        subject_id,
        report_id,
        decision_id,
        action_id,
        case_id,
        details,
    ) = content
    # orjson writes a UUID as its canonical string, as ``str`` does.
    canonical = {
        "seq": seq,
        "prev_hash": prev_hash,
        "recorded_at": _iso(recorded_at),
        "actor_kind": actor_kind,
        "actor_id": actor_id,
        "act": act,
        "subject_id": subject_id,
        "report_id": report_id,
        "decision_id": decision_id,
        "action_id": action_id,
        "details": details,
    }
    # Added later: hashed only when set, so rows written before the column existed still verify.
    if case_id is not None:
        canonical["case_id"] = str(case_id)
    # ``default=str``: the driver's own UUID type, read back by ``verify``, as its string.
    data = orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(data).hexdigest()


async def lock_chain(conn: AsyncConnection) -> None:
    """Take the chain's writer lock until the end of the caller's transaction.

    Handlers take it first, so everything else they read and write in the transaction
    (strikes, ledger states) is serialised across replicas too.
    """
    await repository.advisory_lock(conn, key=_CHAIN_LOCK)


def chain_records(entries: Sequence[AuditEntry], seq: int, prev: str) -> list[tuple[Any, ...]]:
    """The rows that chain ``entries`` after the row ``seq`` with hash ``prev``, in
    ``_COLUMNS`` order, straight from the entries: two audit rows per decision make this the
    hottest loop of a decision batch."""
    records = []
    dumps = orjson.dumps
    for e in entries:
        seq += 1
        content = (
            e.recorded_at,
            e.actor_kind,
            e.actor_id,
            e.act,
            e.subject_id,
            e.report_id,
            e.decision_id,
            e.action_id,
            e.case_id,
            e.details,
        )
        digest = _digest(seq, prev, content)
        # The details as the JSON the hash covers: orjson writes UUIDs, datetimes and enums as
        # the strings JSONB gives back to ``verify``.
        records.append((seq, prev, digest, *content[:-1], dumps(e.details).decode(), e.client_id))
        prev = digest
    return records


async def append(
    conn: AsyncConnection, entries: Sequence[AuditEntry], *, locked: bool = False
) -> None:
    """Append entries to the chain inside the caller's transaction, in one bulk insert."""
    if not entries:
        return
    if not locked:
        await lock_chain(conn)
    seq, prev = await repository.audit_head(conn) or (0, GENESIS)
    records = chain_records(entries, seq, prev)
    await copy_records(conn, audit_log, _COLUMNS, records)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    rows_checked: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None = None
    reason: str | None = None


async def verify(
    engine: AsyncEngine, *, exported: Sequence[Checkpoint] = (), chunk: int = 5000
) -> VerifyResult:
    """Walk the whole chain in order; name the first row whose hash or link does not hold.

    Checkpoints, stored and ``exported`` (read back from signed files, see ``read_exported``),
    are checked on the way: a chain rewritten from some row on, with every later hash
    recomputed, still disagrees with the checkpoints taken before the rewrite. A chain that
    ends before the newest checkpoint lost its newest rows: that fails too.
    """
    prev = GENESIS
    last_seq = 0
    checked = 0
    async with engine.connect() as conn:
        checkpoints: dict[int, tuple[str, str]] = {
            seq: (digest, "its checkpoint") for seq, digest, _ in await repository.checkpoints(conn)
        }
        # A signed export outranks the table: the database cannot rewrite it.
        for c in exported:
            kept = checkpoints.get(c.head_seq)
            if kept is None or kept[0] != c.head_hash:
                what = "was deleted from" if kept is None else "was rewritten in"
                return VerifyResult(
                    False,
                    0,
                    0,
                    GENESIS,
                    c.head_seq,
                    f"exported checkpoint {c.head_seq} {what} audit_checkpoints",
                )
            checkpoints[c.head_seq] = (c.head_hash, f"exported checkpoint {c.head_seq}")
        newest = max(checkpoints, default=0)
        while True:
            rows = await repository.audit_rows(conn, after=last_seq, limit=chunk)
            if not rows:
                if last_seq < newest:
                    return VerifyResult(
                        False,
                        checked,
                        last_seq,
                        prev,
                        last_seq + 1,
                        f"the chain ends at row {last_seq} but {checkpoints[newest][1]} "
                        f"covers rows up to {newest}: rows {last_seq + 1}-{newest} are missing",
                    )
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
                if row_hash(seq, prev, row) != row["hash"]:
                    return VerifyResult(
                        False, checked, last_seq, prev, seq, "row content does not match its hash"
                    )
                expected = checkpoints.get(seq)
                if expected is not None and expected[0] != row["hash"]:
                    return VerifyResult(
                        False, checked, last_seq, prev, seq, f"row hash differs from {expected[1]}"
                    )
                prev = row["hash"]
                last_seq = seq
                checked += 1


@dataclass(frozen=True, slots=True)
class Checkpoint:
    head_seq: int
    head_hash: str
    created_at: datetime


async def checkpoint(conn: AsyncConnection, now: datetime) -> Checkpoint | None:
    """Store the chain's head (seq and hash) now, unless it is already stored."""
    head = await repository.audit_head(conn)
    if head is None:
        return None
    seq, digest = head
    if not await repository.insert_checkpoint(conn, head_seq=seq, head_hash=digest, at=now):
        return None
    return Checkpoint(seq, digest, now)


async def checkpoints(
    conn: AsyncConnection, *, after: int = 0, limit: int = 1000
) -> list[Checkpoint]:
    found = await repository.checkpoints(conn, after=after, limit=limit)
    return [Checkpoint(seq, digest, at) for seq, digest, at in found]


# -- signed export ---------------------------------------------------------------------------
#
# Checkpoints written to a directory (or a bucket synced from it) the database cannot reach,
# each signed with HMAC-SHA256 under a key that only the service's environment holds. Someone
# who can rewrite the database, checkpoints included, cannot forge a file that agrees with the
# rewrite, and ``verify`` checks the chain against every file.

_FILE = "checkpoint-{:020d}.json"


class ExportError(Exception):
    """An exported checkpoint file that cannot be trusted (unreadable or badly signed)."""


def _signed_bytes(head_seq: int, head_hash: str, created_at: str) -> bytes:
    return f"tns-audit-checkpoint:v1:{head_seq}:{head_hash}:{created_at}".encode()


def sign(key: bytes, c: Checkpoint) -> str:
    return hmac.new(
        key, _signed_bytes(c.head_seq, c.head_hash, _iso(c.created_at)), "sha256"
    ).hexdigest()


def export(directory: Path, key: bytes, found: Sequence[Checkpoint]) -> list[Path]:
    """Write each checkpoint to its own signed file; an existing file is never overwritten."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for c in found:
        path = directory / _FILE.format(c.head_seq)
        body = {
            "head_seq": c.head_seq,
            "head_hash": c.head_hash,
            "created_at": _iso(c.created_at),
            "signature": sign(key, c),
        }
        # A name of its own, so two replicas exporting at once never write one file.
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(orjson.dumps(body))
        try:
            # A hard link fails if the name exists: a file once written stays as it was.
            os.link(tmp, path)
        except FileExistsError:
            pass
        else:
            written.append(path)
        finally:
            tmp.unlink()
    return written


def newest_exported(directory: Path) -> int:
    """The highest head seq exported to ``directory`` (0 when none)."""
    if not directory.is_dir():
        return 0
    seqs = [
        int(p.name[11:31]) for p in directory.glob("checkpoint-*.json") if p.name[11:31].isdigit()
    ]
    return max(seqs, default=0)


def read_exported(directory: Path, key: bytes) -> list[Checkpoint]:
    """Every exported checkpoint, its signature checked; raises ``ExportError`` naming a bad one."""
    found = []
    for path in sorted(directory.glob("checkpoint-*.json")):
        try:
            body = orjson.loads(path.read_bytes())
            c = Checkpoint(
                int(body["head_seq"]),
                str(body["head_hash"]),
                datetime.fromisoformat(body["created_at"]),
            )
            signature = str(body["signature"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ExportError(f"{path}: unreadable checkpoint ({exc})") from exc
        if not hmac.compare_digest(signature, sign(key, c)):
            raise ExportError(f"{path}: signature does not match: the file was altered or forged")
        found.append(c)
    return found


async def export_new(engine: AsyncEngine, directory: Path, key: bytes) -> list[Path]:
    """Export the stored checkpoints newer than the newest file in ``directory``."""
    after = await asyncio.to_thread(newest_exported, directory)
    async with engine.connect() as conn:
        found = await checkpoints(conn, after=after, limit=1_000_000)
    return await asyncio.to_thread(export, directory, key, found)

"""``python -m bench.load URL KEY RATE SECONDS OUT [--seed N] [--malformed-every N]``.

An open-loop client of intake: notice ``i`` is due at ``start + i / RATE`` whatever happened to
the ones before, and its latency counts from that scheduled time, so a slow server cannot slow
the client down and hide its own queueing (no coordinated omission). Each notice carries its own
``Idempotency-Key``; a refused connection, a reset or a 5xx is retried with the same key until
it is accepted (as a notifier's client would), so a service killed mid-run loses nothing it
acknowledged and must not accept a notice twice. With ``--malformed-every N`` every N-th request
is a malformed one (bad JSON, a missing field, a wrong type), which must get a 4xx.

The mix: abusive, benign, spam and scam texts, texts with URLs (shorteners, look-alike domains),
subjects and reporters repeated (a few hot subjects get many notices, reporters report often).
Writes a JSON file: every accepted notice (key, report id, status, scheduled epoch time,
latency), counts by status, and the 202 latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import signal
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

CONNECTIONS = 64
RETRY_FOR_S = 120.0

ABUSIVE = [
    "you are a worthless idiot, go die",
    "shut up you pathetic moron, nobody wants you here",
    "you stupid loser, i will make your life hell",
]
BENIGN = [
    "what a lovely photo of your garden",
    "thanks for the recipe, it turned out great",
    "see you at the meeting tomorrow at ten",
    "i disagree with your review of the film but fair enough",
]
SPAM = [
    "WIN a FREE iPhone now!!! click to claim your prize before it expires",
    "cheap pills no prescription, best price, order today, limited offer",
    "earn $5000 a week from home, guaranteed, reply now to join",
]
URLS = [
    "verify your account here https://paypa1-login.example.top/secure now",
    "your parcel is waiting https://bit.ly/3xYzAbC pay the fee",
    "great article https://en.wikipedia.org/wiki/Garden",
]
KINDS = [(ABUSIVE, "harassment"), (BENIGN, "harassment"), (SPAM, "spam"), (URLS, "scams_fraud")]
SHARES = [0.3, 0.35, 0.2, 0.15]


def notice(rng: random.Random, i: int) -> dict[str, Any]:
    texts, category = rng.choices(KINDS, SHARES)[0]
    # A few hot subjects get a good share of the notices; most subjects are reported once.
    subject = f"hot-{rng.randrange(20)}" if rng.random() < 0.2 else f"msg-{i}-{rng.random():.6f}"
    return {
        "subject": {
            "subject_type": "content",
            "subject_id": subject,
            "content_type": "text",
            "owner_account_id": f"acct-{rng.randrange(500)}",
            "text": rng.choice(texts),
        },
        "category": category,
        "reporter": {"reporter_id": f"user-{rng.randrange(200)}"},
    }


MALFORMED = [
    b"{not json",
    orjson.dumps({"category": "harassment"}),  # no subject
    orjson.dumps({"subject": {"subject_type": "content", "subject_id": 5, "text": []}}),
]


def _request(host: str, key: str, body: bytes, idem: str | None) -> bytes:
    head = (
        f"POST /v1/reports HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n"
    )
    if idem:
        head += f"Idempotency-Key: {idem}\r\n"
    return (head + "\r\n").encode() + body


async def roundtrip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, (await reader.readexactly(length)) if length else b""


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    rng = random.Random(args.seed)
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        pool.put_nowait(None)  # opened on first use, reopened after a failure
    accepted: list[dict[str, Any]] = []
    statuses: dict[str, int] = {}
    retries = 0
    malformed_ok = malformed_bad = 0
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def send(request: bytes) -> tuple[int, bytes]:
        conn = await pool.get()
        try:
            if conn is None:
                conn = await asyncio.open_connection(host, port)
            status, body = await roundtrip(*conn, request)
        except (OSError, asyncio.IncompleteReadError):
            if conn is not None:
                conn[1].close()
            pool.put_nowait(None)
            raise
        pool.put_nowait(conn)
        return status, body

    async def one(i: int, due: float, due_epoch: float) -> None:
        nonlocal retries, malformed_ok, malformed_bad
        if args.malformed_every and i % args.malformed_every == args.malformed_every - 1:
            with_error = MALFORMED[i // args.malformed_every % len(MALFORMED)]
            try:
                status, _ = await send(_request(url.netloc, args.key, with_error, None))
            except (OSError, asyncio.IncompleteReadError):
                return
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if 400 <= status < 500:
                malformed_ok += 1
            else:
                malformed_bad += 1
            return
        idem = f"n{args.seed}-{i}"
        request = _request(url.netloc, args.key, orjson.dumps(notice(rng, i)), idem)
        while True:
            try:
                status, body = await send(request)
            except (OSError, asyncio.IncompleteReadError):
                status, body = 0, b""
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == 202:
                got = orjson.loads(body)
                accepted.append(
                    {
                        "key": idem,
                        # The echo reference answers with the notice itself.
                        "report_id": got.get("report_id", idem),
                        "status": got.get("status", "received"),
                        "due": due_epoch,
                        "latency_ms": (time.perf_counter() - due) * 1000,
                    }
                )
                return
            if (status and status < 500 and status != 429) or time.perf_counter() - due > (
                RETRY_FOR_S
            ):
                return
            retries += 1
            await asyncio.sleep(0.25)

    total = int(args.rate * args.seconds)
    start, start_epoch = time.perf_counter(), time.time()
    tasks = []
    for i in range(total):
        if stop.is_set():
            break
        offset = i / args.rate
        delay = start + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, start + offset, start_epoch + offset)))
    await asyncio.gather(*tasks)
    lat = sorted(a["latency_ms"] for a in accepted)
    return {
        "offered": len(tasks),
        "rate": args.rate,
        "seconds": args.seconds,
        "accepted": accepted,
        "statuses": statuses,
        "retries": retries,
        "malformed_refused": malformed_ok,
        "malformed_not_refused": malformed_bad,
        "p50_ms": lat[len(lat) // 2] if lat else None,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.load")
    p.add_argument("url")
    p.add_argument("key")
    p.add_argument("rate", type=float)
    p.add_argument("seconds", type=float)
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--malformed-every", type=int, default=0)
    args = p.parse_args()
    import uvloop

    # No collector pauses while pacing (see bench/intake.py).
    gc.collect()
    gc.disable()
    result = uvloop.run(run(args))
    args.out.write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()

"""Intake throughput on one uvicorn worker against a bare FastAPI echo of the same payload.

Both servers run as subprocesses (uvloop + httptools), the load generator in another process
over raw keep-alive asyncio streams, so the measured process does nothing but serve. Then the
latency at half the measured rate, paced open-loop.

``python -m bench.intake echo PORT`` serves the echo app; ``python -m bench.intake load ...``
is the load generator (both used by ``run``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import ROUNDS, new_namespace
from bench.load import roundtrip
from devstack.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATE = 2_000.0
TARGET_RATIO = 0.4
TARGET_P99_MS = 50.0
CONNECTIONS = 64

PAYLOAD: dict[str, Any] = {
    "reporter": {"reporter_id": "user-829"},
    "subject": {
        "subject_type": "content",
        "subject_id": "msg-1001",
        "content_type": "text",
        "owner_account_id": "acct-77",
        "text": "you are a worthless idiot, shut up, see https://evil.example.com/x?utm_source=a",
    },
    "reason_code": "harassment",
    "explanation": "Insults aimed at me in a group chat.",
    "locations": ["https://chat.example.com/g/42/m/1001"],
    "good_faith": True,
    "language": "en",
}


# --- servers -------------------------------------------------------------------------------


def _echo_app() -> Any:
    from fastapi import FastAPI
    from fastapi.responses import ORJSONResponse

    app = FastAPI()

    @app.post("/v1/reports", status_code=202)
    async def echo(body: dict[str, Any]) -> ORJSONResponse:
        return ORJSONResponse(body, status_code=202)

    return app


def _serve_echo(port: int) -> None:
    import uvicorn

    uvicorn.run(
        _echo_app(),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} not ready")


# --- load generator ------------------------------------------------------------------------


def _request(port: int, path: str, key: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _closed_loop(port: int, path: str, key: str, n: int) -> dict[str, Any]:
    request = _request(port, path, key, orjson.dumps(PAYLOAD))
    remaining = n
    errors = 0

    async def worker() -> None:
        nonlocal remaining, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while remaining > 0:
            remaining -= 1
            if (await roundtrip(reader, writer, request))[0] != 202:
                errors += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    elapsed = time.perf_counter() - started
    return {"n": n, "seconds": elapsed, "rate": n / elapsed, "errors": errors}


async def _paced(port: int, path: str, key: str, rate: float, seconds: float) -> dict[str, Any]:
    request = _request(port, path, key, orjson.dumps(PAYLOAD))
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    errors = 0

    async def one(due: float) -> None:
        nonlocal errors
        conn = await pool.get()
        try:
            if (await roundtrip(*conn, request))[0] != 202:
                errors += 1
        finally:
            pool.put_nowait(conn)
        # From the scheduled send time, so queueing in the client counts too (no coordinated
        # omission).
        latencies.append(time.perf_counter() - due)

    total = int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    latencies.sort()
    return {
        "n": total,
        "rate": rate,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "errors": errors,
    }


def _load(args: list[str]) -> dict[str, Any]:
    # uvloop, as the servers use: the generator shares the machine's two cores with the server,
    # the broker and the database, so every microsecond it spends is taken from them.
    import uvloop

    mode, port, path, key, *rest = args
    # No collector pauses in the measuring process: the paced run keeps every request's task,
    # and a full collection over them stalled it for 50 - 90 ms (seen as server latency).
    gc.collect()
    gc.disable()
    if mode == "closed":
        return uvloop.run(_closed_loop(int(port), path, key, int(rest[0])))
    return uvloop.run(_paced(int(port), path, key, float(rest[0]), float(rest[1])))


def _run_load(port: int, key: str, *args: object) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.intake",
            "load",
            str(args[0]),
            str(port),
            "/v1/reports",
            key,
            *map(str, args[1:]),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=900,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# --- the section ---------------------------------------------------------------------------


def _service_env(env: dict[str, Any], port: int) -> dict[str, str]:
    out = {**os.environ}
    for name, value in env.items():
        out[f"TNS_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    out.update(
        {
            "TNS_TOPIC_NAMESPACE": new_namespace("i"),
            "TNS_HTTP_PORT": str(port),
            "TNS_LOG_LEVEL": "WARNING",
            "TNS_RATE_LIMIT_PER_SECOND": "1000000",
            "TNS_RATE_LIMIT_BURST": "10000000",
        }
    )
    return out


async def run(env: dict[str, Any], n: int, warmup: int) -> list[dict[str, Any]]:
    return await asyncio.to_thread(_run_sync, env, n, warmup)


def _run_sync(env: dict[str, Any], n: int, warmup: int) -> list[dict[str, Any]]:
    intake_port, echo_port = free_port(), free_port()
    senv = _service_env(env, intake_port)
    created = subprocess.run(
        [sys.executable, "-m", "services.intake", "keys", "create", "--client", "bench"],
        env=senv,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    key = json.loads(created.stdout.strip().splitlines()[-1])["key"]
    intake = subprocess.Popen(
        [sys.executable, "-m", "services.intake", "serve"],
        env=senv,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    echo = subprocess.Popen(
        [sys.executable, "-m", "bench.intake", "echo", str(echo_port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{intake_port}/readyz", intake)
        _wait_ready(f"http://127.0.0.1:{echo_port}/docs", echo)
        for port in (intake_port, echo_port):
            _run_load(port, key, "closed", max(warmup, CONNECTIONS))
        # Alternating rounds, each side by its best (see ROUNDS). The latency is measured at
        # half the first round's rate, right after it: later rounds grow the database by n
        # notices each, and the latency should not depend on how many rounds ran before.
        gots, refs = [], []
        for round_ in range(ROUNDS):
            gots.append(_run_load(intake_port, key, "closed", n))
            refs.append(_run_load(echo_port, key, "closed", n))
            if round_ == 0:
                half = gots[0]["rate"] / 2
                lat = _run_load(intake_port, key, "paced", half, max(3.0, min(10.0, n / half)))
        got = max(gots, key=lambda r: float(r["rate"]))
        ref = max(refs, key=lambda r: float(r["rate"]))
    finally:
        for proc in (intake, echo):
            proc.terminate()
            proc.wait(30)
    ratio = got["rate"] / ref["rate"]
    return [
        {
            "section": "intake",
            "what": f"intake throughput, one worker (reports/s, best of {ROUNDS})",
            "value": round(got["rate"], 1),
            "target": f">= {TARGET_RATE:.0f}",
            "pass": got["rate"] >= TARGET_RATE and all(g["errors"] == 0 for g in gots),
            "rounds_per_s": [round(g["rate"], 1) for g in gots],
        },
        {
            "section": "intake",
            "what": f"bare FastAPI echo reference (req/s, best of {ROUNDS})",
            "value": round(ref["rate"], 1),
            "rounds_per_s": [round(r["rate"], 1) for r in refs],
            "target": "(reference)",
            "pass": None,
        },
        {
            "section": "intake",
            "what": "ratio intake / echo (of the best rounds)",
            "value": round(ratio, 3),
            "target": f">= {TARGET_RATIO}",
            "pass": ratio >= TARGET_RATIO,
            "rounds": [round(g["rate"] / r["rate"], 3) for g, r in zip(gots, refs, strict=True)],
        },
        {
            "section": "intake",
            "what": f"p50 latency at {half:.0f}/s, half of round 1 (ms)",
            "value": round(lat["p50_ms"], 1),
            "target": "(info)",
            "pass": None,
        },
        {
            "section": "intake",
            "what": f"p99 latency at {half:.0f}/s, half of round 1 (ms)",
            "value": round(lat["p99_ms"], 1),
            "target": f"<= {TARGET_P99_MS:.0f}",
            "pass": lat["p99_ms"] <= TARGET_P99_MS and lat["errors"] == 0,
        },
    ]


if __name__ == "__main__":
    if sys.argv[1] == "echo":
        _serve_echo(int(sys.argv[2]))
    else:
        print(json.dumps(_load(sys.argv[2:])))

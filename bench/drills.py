"""``python -m bench.drills [--rate R] [--seconds S] [--only NAME ...]``: failures under load.

Each drill runs the whole pipeline under a steady open-loop load (``bench.load``), injects its
failure part-way through, and ends with the checks: every accepted notice decided exactly once
and done (its notifier's notice or its review task), every action issued once, no report decided
that no client was given, the audit chain verifies, and the recovery time (from the failure until
every notice sent before it ended was done). The drills:

- ``kill-<service>``: SIGKILL the service (no shutdown, no offset commit), start it again. Two
  times from the new process's launch: ``ready_s``, until ``/readyz`` answers 200 (its
  database and broker answer; the consumers need not hold partitions yet, see
  ``shared.service``), and ``working_again_s``, until the first record of the service's own
  stage (for a consumer, once its group has given it partitions back);
- ``postgres``: PostgreSQL stopped for 5 s and started again;
- ``pause``: the router stopped (SIGSTOP) past its session timeout, so the group rebalances
  around it, then continued;
- ``scale``: a second classifier and a second router join mid-run, then stop;
- ``poison``: messages that do not parse on the reports topics, and malformed HTTP requests
  (each must get a 4xx) among the notices.

Results go to ``.bench/drills.json``; the exit status is 1 when a drill fails its checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.pipeline import ROOT, SERVICES, Load, Pipeline, Watcher, verify
from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from shared.config import ServiceSettings

Fault = Callable[[Pipeline], Awaitable[dict[str, Any]]]
DONE_TIMEOUT_S = 180.0


# The stage each service writes: after a kill, its first record marks the service at work again.
STAGE_OF = {"intake": "received", "classifier": "classified", "router": "routed"}
STAGE_OF["enforcement"] = "action"  # only enforcement writes actions


def _kill(name: str) -> Fault:
    async def fault(pipeline: Pipeline) -> dict[str, Any]:
        pipeline[name].kill()
        killed_at = time.time()
        await asyncio.sleep(1)  # down for a moment: clients meet refused connections
        relaunched_at = time.time()
        ready_s = await pipeline[name].start()
        return {
            "ready_s": round(ready_s, 2),
            "killed_at": killed_at,
            "relaunched_at": relaunched_at,
        }

    return fault


async def _postgres(pipeline: Pipeline) -> dict[str, Any]:
    await asyncio.to_thread(pipeline.postgres.halt)
    await asyncio.sleep(5)
    await asyncio.to_thread(pipeline.postgres.resume)
    return {}


async def _pause(pipeline: Pipeline) -> dict[str, Any]:
    router = pipeline["router"]
    default = ServiceSettings.model_fields["consumer_session_timeout_ms"].default
    timeout_s = int(pipeline.env.get("TNS_CONSUMER_SESSION_TIMEOUT_MS", default)) / 1000
    router.signal(signal.SIGSTOP)
    await asyncio.sleep(timeout_s + 2)
    router.signal(signal.SIGCONT)
    return {"paused_s": timeout_s + 2}


async def _scale(pipeline: Pipeline) -> dict[str, Any]:
    started = time.monotonic()
    extra = [await pipeline.add_instance("classifier"), await pipeline.add_instance("router")]
    joined = time.monotonic() - started
    await asyncio.sleep(3)
    for inst in extra:
        inst.stop()
    pipeline.extra.clear()
    return {"second_instances_ready_s": round(joined, 2)}


async def _poison(pipeline: Pipeline) -> dict[str, Any]:
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.kafka.bootstrap_servers)
    await producer.start()
    try:
        bad = [b"not json", b'{"event_type": "ReportReceived"}', b"", b'{"payload": 7}']
        sent = [
            await producer.send(topic, value or None, key=f"poison-{i}".encode())
            for topic in (pipeline.topics.reports_received, pipeline.topics.reports_classified)
            for i, value in enumerate(bad)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return {"poison_messages": 8}


DRILLS: dict[str, Fault] = {
    **{f"kill-{name}": _kill(name) for name in SERVICES},
    "postgres": _postgres,
    "pause": _pause,
    "scale": _scale,
    "poison": _poison,
}


async def drill(
    pipeline: Pipeline,
    watcher: Watcher,
    name: str,
    *,
    rate: float,
    seconds: float,
    seed: int,
    tmp: Path,
) -> dict[str, Any]:
    """Load for ``seconds``, the fault a third of the way in, then the checks."""
    load = Load(
        pipeline.intake_url,
        pipeline.keys["intake"],
        rate,
        seconds,
        tmp / f"drill-{name}.json",
        seed=seed,
        malformed_every=25 if name == "poison" else 0,
    )
    await asyncio.sleep(seconds / 3)
    fault_at = time.time()
    info = await DRILLS[name](pipeline)
    fault_end = time.time()
    result = await load.result(timeout=seconds + 300)
    accepted = result.pop("accepted")
    expected = [a["report_id"] for a in accepted if a["status"] != "held"]
    drained = True
    try:
        await watcher.wait_done(expected, DONE_TIMEOUT_S)
    except TimeoutError:
        drained = False
    checks = verify(watcher, accepted, load.started_at)
    before = [
        watcher.reports[a["report_id"]].at["done"]
        for a in accepted
        if a["due"] <= fault_end and "done" in watcher.reports[a["report_id"]].at
    ]
    if "relaunched_at" in info:
        # From the new process's launch to the first record of the service's own stage.
        stage, since = STAGE_OF[name.removeprefix("kill-")], info["relaunched_at"]
        after = [s.at[stage] for s in list(watcher.reports.values()) if s.at.get(stage, 0) > since]
        info["working_again_s"] = round(min(after) - since, 2) if after else None
    audit = await asyncio.to_thread(pipeline.verify_audit)
    checks["stored_duplicates"] = await pipeline.stored_duplicates()
    ok = checks["ok"] and drained and audit and checks["stored_duplicates"] == 0
    if name == "poison":
        ok = ok and result["malformed_not_refused"] == 0 and result["malformed_refused"] > 0
    return {
        "drill": name,
        "ok": ok,
        "rate": rate,
        "seconds": seconds,
        "offered": result["offered"],
        "statuses": result["statuses"],
        "client_retries": result["retries"],
        "malformed_refused": result["malformed_refused"],
        "malformed_not_refused": result["malformed_not_refused"],
        "checks": checks,
        "drained": drained,
        "audit_verifies": audit,
        "fault_s": round(fault_end - fault_at, 2),
        "recovery_s": round(max(before) - fault_at, 2) if before else None,
        **info,
    }


async def run(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    names: list[str],
    *,
    rate: float,
    seconds: float,
    log_dir: Path,
) -> list[dict[str, Any]]:
    pipeline = Pipeline(kafka, postgres, f"d{uuid.uuid4().hex[:8]}.", log_dir)
    results = []
    try:
        await pipeline.start()
        async with Watcher(kafka.bootstrap_servers, pipeline.topics) as watcher:
            for seed, name in enumerate(names, start=1):
                results.append(
                    await drill(
                        pipeline, watcher, name, rate=rate, seconds=seconds, seed=seed, tmp=log_dir
                    )
                )
    finally:
        pipeline.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.drills")
    p.add_argument("--rate", type=float, default=200, help="notices per second offered")
    p.add_argument("--seconds", type=float, default=30, help="seconds of load per drill")
    p.add_argument("--only", nargs="*", choices=list(DRILLS), default=[])
    p.add_argument("--out", type=Path, default=ROOT / ".bench" / "drills.json")
    args = p.parse_args(argv)
    datadir = Path(tempfile.gettempdir()) / f"tnsd-{os.getpid()}"
    log_dir = Path(tempfile.mkdtemp(prefix="tns-drills-"))
    kafka, pg = EmbeddedKafka(), EmbeddedPostgres(datadir)
    try:
        kafka.start()
        pg.start()
        results = asyncio.run(
            run(
                kafka,
                pg,
                args.only or list(DRILLS),
                rate=args.rate,
                seconds=args.seconds,
                log_dir=log_dir,
            )
        )
    finally:
        try:
            pg.stop()
        finally:
            kafka.stop()
            shutil.rmtree(datadir, ignore_errors=True)
    for r in results:
        print(summary(r))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out} (service logs in {log_dir})")
    return 0 if all(r["ok"] for r in results) else 1


def summary(r: dict[str, Any]) -> str:
    """One line per drill: its checks and its times."""
    c = r["checks"]
    return (
        f"{r['drill']:<18} {'PASS' if r['ok'] else 'FAIL'}  accepted {c['accepted']}, "
        f"lost {c['lost']}, decided twice {c['decided_twice']}, actions twice "
        f"{c['actions_twice']}, unknown decided {c['decided_unknown_report']}, duplicate rows "
        f"{c['stored_duplicates']}, audit "
        f"{'ok' if r['audit_verifies'] else 'BROKEN'}, recovery {r['recovery_s']} s"
        + (
            f", /readyz after {r['ready_s']} s, working again after {r['working_again_s']} s"
            if "ready_s" in r
            else ""
        )
        + (f"; lost, with the stages seen: {c['lost_examples']}" if c["lost"] else "")
    )


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench e2e``: the whole pipeline, end to end, against the same client's references.

The four services run as processes on the embedded broker and PostgreSQL; ``bench.load`` offers
notices at a constant rate from its own process (open loop); the watcher reads every output
topic. Per offered rate: accepted, lost, duplicated, the 202 latency, the latency from each
notice's scheduled send time to each stage (received, classified, routed, decided, action, done
= the notifier's notice or the review task), p50/p95/p99/max, reports in flight over time, CPU
per report of every process (the broker and PostgreSQL included) and their memory. First, single
notices one at a time on the idle pipeline: the floor of each hop.

The references, in the same run: the same client against a bare FastAPI echo (``bench.intake``),
and a chain of four pass-through consumer processes (``python -m bench.e2e relay``), each running
the services' consumer loop with a handler that republishes what it gets, so each stage has the
cost of the consumer loop and the broker alone beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.load import notice
from bench.pipeline import (
    ROOT,
    STAGES,
    Load,
    Pipeline,
    Watcher,
    cpu_seconds,
    family,
    rss_mib,
    verify,
)
from devstack.embedded import EmbeddedKafka, EmbeddedPostgres, free_port

# Targets of ARCHITECTURE.md section 7, at 1,000 reports/s.
TARGET_P50_MS = 30.0
TARGET_P99_MS = 150.0
DRAIN_TIMEOUT_S = 120.0
BURST_S = 30.0
TARGET_DRAIN_S = 60.0  # in-flight reports back to zero after the burst


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * q))], 1)


def _summary(values: list[float]) -> dict[str, float | None]:
    return {
        "n": len(values),
        "p50_ms": _pct(values, 0.5),
        "p95_ms": _pct(values, 0.95),
        "p99_ms": _pct(values, 0.99),
        "max_ms": round(max(values), 1) if values else None,
    }


def _stage_latencies(watcher: Watcher, sent: dict[str, float]) -> dict[str, Any]:
    """Per stage, ms from each notice's scheduled (or actual, for the probe) send time."""
    out: dict[str, Any] = {}
    for stage in STAGES:
        values = [
            (watcher.reports[r].at[stage] - t) * 1000
            for r, t in sent.items()
            if r in watcher.reports and stage in watcher.reports[r].at
        ]
        out[stage] = _summary(values)
    return out


class Meter:
    """CPU seconds and memory of named process families, between two readings."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self._start = {n: cpu_seconds(p) for n, p in pids.items()}
        self._t = time.monotonic()

    def read(self, reports: int) -> dict[str, Any]:
        return {
            name: {
                "cpu_ms_per_report": round(
                    (cpu_seconds(p) - self._start[name]) * 1000 / max(reports, 1), 3
                ),
                "rss_mib": round(rss_mib(p), 1),
            }
            for name, p in self.pids.items()
        }


def _pg_pids(pg: EmbeddedPostgres) -> list[int]:
    pid_file = pg.datadir / "postmaster.pid"
    return family(int(pid_file.read_text().split()[0])) if pid_file.exists() else []


def _stack_pids(pipeline: Pipeline) -> dict[str, list[int]]:
    broker = pipeline.kafka._proc
    pids = {name: s.pids() for name, s in pipeline.services.items()}
    pids["broker"] = family(broker.pid) if broker is not None else []
    pids["postgres"] = _pg_pids(pipeline.postgres)
    return pids


async def probe(pipeline: Pipeline, watcher: Watcher, n: int) -> dict[str, Any]:
    """Single notices, one at a time, each after the previous one is done: the idle floor."""
    sent: dict[str, float] = {}
    key = pipeline.keys["intake"]
    import random

    rng = random.Random(7)
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(n):
            body = notice(rng, i)
            at = time.time()
            r = await client.post(
                f"{pipeline.intake_url}/v1/reports",
                json=body,
                headers={"Authorization": f"Bearer {key}", "Idempotency-Key": uuid.uuid4().hex},
            )
            r.raise_for_status()
            rid = r.json()["report_id"]
            sent[rid] = at
            await watcher.wait_done([rid], timeout=30)
            await asyncio.sleep(0.2)  # idle between notices
    return {"n": n, "stages": _stage_latencies(watcher, sent)}


async def handler_times(pipeline: Pipeline) -> dict[str, dict[str, float]]:
    """Per service and handler, from ``/metrics``: batches, mean ms per batch (its transaction
    and acknowledgements included) and mean messages per batch, since the service started."""
    out: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(timeout=5) as client:
        for name, inst in pipeline.services.items():
            text = (await client.get(f"{inst.url}/metrics")).text
            sums: dict[tuple[str, str], float] = {}
            for line in text.splitlines():
                for metric in ("tns_handler_seconds", "tns_handler_batch_size"):
                    for part in ("_sum", "_count"):
                        if line.startswith(metric + part + "{"):
                            handler = line.split('handler="', 1)[1].split('"', 1)[0]
                            sums[(f"{metric}{part}", handler)] = float(line.rsplit(" ", 1)[1])
            for (metric, handler), value in sums.items():
                if metric != "tns_handler_seconds_count" or not value:
                    continue
                batches = value
                out[f"{name}.{handler}"] = {
                    "batches": batches,
                    "ms_per_batch": round(
                        sums[("tns_handler_seconds_sum", handler)] * 1000 / batches, 2
                    ),
                    "messages_per_batch": round(
                        sums.get(("tns_handler_batch_size_sum", handler), 0) / batches, 1
                    ),
                }
    return out


async def offered(
    pipeline: Pipeline, watcher: Watcher, rate: float, seconds: float, *, tmp: Path, seed: int
) -> dict[str, Any]:
    """One open-loop run at ``rate`` for ``seconds``, then until every notice is done."""
    pids = _stack_pids(pipeline)
    meter = Meter(pids)
    load = Load(
        pipeline.intake_url,
        pipeline.keys["intake"],
        rate,
        seconds,
        tmp / f"l{seed}.json",
        seed=seed,
    )
    started = time.monotonic()
    in_flight: list[tuple[float, int]] = []
    while load.proc.poll() is None:
        in_flight.append((round(time.monotonic() - started, 2), _in_flight(watcher, started)))
        await asyncio.sleep(0.5)
    result = await load.result()
    accepted = result.pop("accepted")
    expected = [a["report_id"] for a in accepted if a["status"] != "held"]
    drained = True
    t_end = time.monotonic()
    while watcher.done(expected) < len(expected):
        if time.monotonic() - t_end > DRAIN_TIMEOUT_S:
            drained = False
            break
        in_flight.append((round(time.monotonic() - started, 2), _in_flight(watcher, started)))
        await asyncio.sleep(0.5)
    drain_s = time.monotonic() - t_end
    usage = meter.read(len(accepted))
    checks = verify(watcher, accepted, load.started_at)
    sent = {a["report_id"]: a["due"] for a in accepted if a["status"] != "held"}
    return {
        "rate": rate,
        "seconds": seconds,
        "offered": result["offered"],
        "accepted": len(accepted),
        "statuses": result["statuses"],
        "retries": result["retries"],
        "http_202": _summary([a["latency_ms"] for a in accepted]),
        "stages": _stage_latencies(watcher, sent),
        "drained": drained,
        "drain_s": round(drain_s, 2),
        "in_flight": in_flight,
        "processes": usage,
        "checks": checks,
    }


def _in_flight(watcher: Watcher, since: float) -> int:
    wall_since = time.time() - (time.monotonic() - since)
    return sum(
        1
        for s in list(watcher.reports.values())
        if "received" in s.at and s.at["received"] >= wall_since and "done" not in s.at
    )


# --- references ------------------------------------------------------------------------------


def relay_main(source: str, target: str, bootstrap: str, group: str) -> None:
    """One pass-through consumer: the services' loop, republishing each event unchanged."""
    from shared.config import ServiceSettings
    from shared.events import Event, ReportReceived
    from shared.kafka.consumer import ConsumerLoop, HandlerContext
    from shared.kafka.producer import EventProducer

    class Relayed(ReportReceived):
        TOPIC = target

    async def forward(events: list[ReportReceived], ctx: HandlerContext) -> list[Event]:
        return [Relayed.model_construct(**dict(e)) for e in events]

    async def main() -> None:
        settings = ServiceSettings(
            service_name=group, kafka_bootstrap_servers=bootstrap, consumer_group=group
        )
        producer = EventProducer(settings)
        await producer.start()
        loop = ConsumerLoop(
            settings=settings,
            topics=[source],
            event_type=ReportReceived,
            handler=forward,
            producer=producer,
            name="relay",
        )
        await loop.start()
        await asyncio.Event().wait()

    import uvloop

    uvloop.run(main())


async def relay_chain(kafka: EmbeddedKafka, n: int, rate: float, seconds: float) -> dict[str, Any]:
    """Four pass-through consumers in a chain: single messages idle, then ``rate`` per second."""
    from aiokafka import AIOKafkaProducer

    from shared.events import ReportReceived
    from shared.kafka.topics import ensure_topics
    from tests.factories import make_received

    ns = f"r{uuid.uuid4().hex[:6]}."
    topics = [f"{ns}hop{i}" for i in range(5)]
    await ensure_topics(kafka.bootstrap_servers, topics, 3)
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "bench.e2e", "relay", topics[i], topics[i + 1]),
            *(kafka.bootstrap_servers, f"{ns}relay{i}"),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(4)
    ]
    arrivals: dict[str, float] = {}
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topics[4],
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=0)
    await consumer.start()
    await producer.start()

    arrived = asyncio.Event()

    async def watch() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for r in records:
                    arrivals[ReportReceived.from_bytes(r.value or b"").event_id.hex] = time.time()
            if batch:
                arrived.set()

    async def until(done: Any, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                arrived.clear()
                await arrived.wait()

    watching = asyncio.create_task(watch())
    try:
        sent: dict[str, float] = {}

        async def send(event: ReportReceived) -> None:
            sent[event.event_id.hex] = time.time()
            await producer.send(topics[0], event.to_bytes(), key=event.key())

        # Warm-up: until all four relays are in their groups and pass a message through.
        warm = make_received()
        await send(warm)
        await until(lambda: warm.event_id.hex in arrivals, 120)
        del sent[warm.event_id.hex]
        for _ in range(n):
            event = make_received()
            await send(event)
            await until(lambda e=event: e.event_id.hex in arrivals, 30)
            await asyncio.sleep(0.2)
        idle = [(arrivals[k] - t) * 1000 for k, t in sent.items()]
        sent.clear()
        pids = {f"relay{i}": family(p.pid) for i, p in enumerate(procs)}
        meter = Meter(pids)
        start = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await send(make_received())
        with contextlib.suppress(TimeoutError):
            await until(lambda: all(k in arrivals for k in sent), DRAIN_TIMEOUT_S)
        paced = [(arrivals[k] - t) * 1000 for k, t in sent.items() if k in arrivals]
        usage = meter.read(total)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        await consumer.stop()
        await producer.stop()
        for p in procs:
            p.terminate()
            await p.wait()
    return {
        "idle_four_hops": _summary(idle),
        "rate": rate,
        "paced_four_hops": _summary(paced),
        "lost": total - len(paced),
        "processes": usage,
    }


def echo_reference(key: str, rate: float, seconds: float, tmp: Path) -> dict[str, Any]:
    """The same client against a bare FastAPI echo at the same rate: the HTTP floor."""
    port = free_port()
    echo = subprocess.Popen(
        [sys.executable, "-m", "bench.intake", "echo", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        out = tmp / f"echo{rate}.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.load",
                f"http://127.0.0.1:{port}",
                key,
                str(rate),
                str(seconds),
                str(out),
                "--seed",
                "99",
            ],
            cwd=ROOT,
            check=True,
            timeout=600,
        )
    finally:
        echo.terminate()
        echo.wait(30)
    result = json.loads(out.read_text())
    return {"rate": rate, "http_202": _summary([a["latency_ms"] for a in result["accepted"]])}


# --- the section ---------------------------------------------------------------------------


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["rates"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    xs = [r["rate"] for r in runs]
    for stage, style in (("decided", "o-"), ("done", "s-")):
        for q in ("p50_ms", "p99_ms"):
            ys = [r["stages"][stage][q] for r in runs]
            left.plot(xs, ys, style, label=f"{stage} {q[:3]}")
    left.plot(xs, [r["http_202"]["p99_ms"] for r in runs], "^--", label="202 p99")
    left.axhline(TARGET_P99_MS, color="grey", linestyle=":", label="target p99")
    left.set_xlabel("offered notices/s")
    left.set_ylabel("ms from scheduled send")
    left.set_yscale("log")
    left.set_title("latency against offered rate")
    left.legend(fontsize=7)
    for r in [*runs, *([results["burst"]] if "burst" in results else [])]:
        ts = [t for t, _ in r["in_flight"]]
        right.plot(ts, [v for _, v in r["in_flight"]], label=f"{r['rate']:.0f}/s")
    right.set_xlabel("s since the run started")
    right.set_ylabel("reports received, not yet done")
    right.set_title("lag over time")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


async def run_stack(
    kafka: EmbeddedKafka,
    pg: EmbeddedPostgres,
    *,
    rates: list[float],
    seconds: float,
    probes: int,
    burst: float,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Single notices on the idle stack, each offered rate in turn, then a burst of ``burst``
    notices per second for 30 s (0: none), whose drain time is checked against 60 s."""
    tmp = Path(tempfile.mkdtemp(prefix="tns-e2e-"))
    pipeline = Pipeline(kafka, pg, f"e{uuid.uuid4().hex[:8]}.", tmp)
    results: dict[str, Any] = {"rates": []}
    try:
        started = time.monotonic()
        await pipeline.start()
        results["start_s"] = round(time.monotonic() - started, 1)
        async with Watcher(kafka.bootstrap_servers, pipeline.topics) as watcher:
            results["idle"] = await probe(pipeline, watcher, probes)
            results["idle"]["handlers"] = await handler_times(pipeline)
            for seed, rate in enumerate(rates, start=1):
                results["rates"].append(
                    await offered(pipeline, watcher, rate, seconds, tmp=tmp, seed=seed)
                )
            if burst:
                results["burst"] = await offered(
                    pipeline, watcher, burst, BURST_S, tmp=tmp, seed=len(rates) + 1
                )
        results["handlers"] = await handler_times(pipeline)
        results["audit_verifies"] = await asyncio.to_thread(pipeline.verify_audit)
    finally:
        pipeline.stop()
    results["reference_relay"] = await relay_chain(kafka, probes, rates[0], seconds)
    results["reference_echo"] = [
        await asyncio.to_thread(echo_reference, pipeline.keys["intake"], rate, seconds, tmp)
        for rate in rates
    ]
    return _rows(results), results


def _rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    idle = results["idle"]["stages"]
    relay = results["reference_relay"]
    rows: list[dict[str, Any]] = [
        {
            "section": "e2e",
            "what": "idle, one notice at a time: received -> decided p50 (ms)",
            "value": idle["decided"]["p50_ms"],
            "target": "(info)",
            "pass": None,
        },
        {
            "section": "e2e",
            "what": "idle: received -> done p50 / p99 (ms)",
            "value": f"{idle['done']['p50_ms']} / {idle['done']['p99_ms']}",
            "target": "(info)",
            "pass": None,
        },
        {
            "section": "e2e",
            "what": "reference: four pass-through consumers, idle p50 (ms)",
            "value": relay["idle_four_hops"]["p50_ms"],
            "target": "(reference)",
            "pass": None,
        },
    ]
    echo = {e["rate"]: e for e in results["reference_echo"]}
    for r in results["rates"]:
        checks = r["checks"]
        done = r["stages"]["done"]
        action = r["stages"]["action"]
        at_target = r["rate"] >= 1000
        rows.append(
            {
                "section": "e2e",
                "what": f"{r['rate']:.0f}/s: lost / decided twice / action twice",
                "value": f"{checks['lost']}/{checks['decided_twice']}/{checks['actions_twice']}",
                "target": "0/0/0",
                "pass": checks["ok"] and r["drained"],
            }
        )
        rows.append(
            {
                "section": "e2e",
                "what": f"{r['rate']:.0f}/s: received -> action p50 / p99 (ms)",
                "value": f"{action['p50_ms']} / {action['p99_ms']}",
                "target": f"<= {TARGET_P50_MS:.0f} / {TARGET_P99_MS:.0f}",
                "pass": (
                    (action["p50_ms"] or 1e9) <= TARGET_P50_MS
                    and (action["p99_ms"] or 1e9) <= TARGET_P99_MS
                )
                if at_target
                else None,
            }
        )
        rows.append(
            {
                "section": "e2e",
                "what": f"{r['rate']:.0f}/s: done p50 / p99 (ms); 202 p99 against echo's",
                "value": f"{done['p50_ms']} / {done['p99_ms']}; "
                f"{r['http_202']['p99_ms']} vs {echo[r['rate']]['http_202']['p99_ms']}",
                "target": "(info)",
                "pass": None,
            }
        )
    burst = results.get("burst")
    if burst is not None:
        rows.append(
            {
                "section": "e2e",
                "what": f"burst {burst['rate']:.0f}/s for {BURST_S:.0f} s: drained in (s)",
                "value": burst["drain_s"] if burst["drained"] else f">{DRAIN_TIMEOUT_S:.0f}",
                "target": f"<= {TARGET_DRAIN_S:.0f}",
                "pass": burst["drained"]
                and burst["drain_s"] <= TARGET_DRAIN_S
                and burst["checks"]["ok"],
            }
        )
    return rows


def main_cli(argv: list[str]) -> None:
    if argv[0] == "relay":
        relay_main(*argv[1:5])


if __name__ == "__main__":
    main_cli(sys.argv[1:])

"""The whole pipeline as processes, an open-loop client and a watcher of the output topics.

Used by ``python -m bench e2e`` (latency and cost per offered rate), ``python -m bench.drills``
(failures under load) and the short drills of ``make test``:

- ``Pipeline`` runs the four services as processes against one broker and PostgreSQL, and can
  SIGKILL, restart, pause and add instances;
- ``python -m bench.load`` is the client: notices at a constant rate, each with its own
  ``Idempotency-Key``, latency from each notice's scheduled send time (open loop), retried with
  the same key on a refused connection or a 5xx, as a client of a notice API does;
- ``Watcher`` reads every output topic and keeps, per report, when each stage's event was
  written (the record's timestamp) and every distinct decision and action id;
- ``verify`` says whether every accepted notice was decided exactly once and every action
  issued once, and whether the audit chain verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from devstack.run import DEV_KEYS, create_key
from shared.kafka.topics import Topics, ensure_topics

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("intake", "classifier", "router", "enforcement")
# Stages in pipeline order: the topic whose first record about a report marks it.
STAGES = ("received", "classified", "routed", "decided", "action", "done")


def process_env(kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TNS_")}
    env.update(
        {
            "TNS_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "TNS_DATABASE_URL": postgres.url,
            "TNS_TOPIC_NAMESPACE": namespace,
            "TNS_LOG_JSON": "false",
            "TNS_LOG_LEVEL": "WARNING",
            # The client offers a fixed rate; the limiter is not what is measured.
            "TNS_RATE_LIMIT_PER_SECOND": "1000000",
            "TNS_RATE_LIMIT_BURST": "10000000",
            # Tansu keeps a SIGKILLed member in its group until it has been silent this long
            # and hands its partitions to its successor about 1.5 times this plus 2 s after the
            # kill (6 s: 11 s, 3 s: 2 s from the successor's launch, measured). Tansu takes
            # 3 s; Apache Kafka refuses less than its group.min.session.timeout.ms (6 s).
            "TNS_CONSUMER_SESSION_TIMEOUT_MS": "3000",
        }
    )
    # Any other setting can be tried from the environment (e.g. TNS_CONSUMER_FETCH_WAIT_MS).
    placed = ("TNS_KAFKA_BOOTSTRAP_SERVERS", "TNS_DATABASE_URL", "TNS_TOPIC_NAMESPACE")
    env.update({k: v for k, v in os.environ.items() if k.startswith("TNS_") and k not in placed})
    return env


def family(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out = [pid]
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    out += family(int(child))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


class Instance:
    """One service process; ``start`` returns once ``/readyz`` answers 200."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, tag: str = "") -> None:
        self.name = name
        self.port = free_port()
        self.env = {**env, "TNS_HTTP_PORT": str(self.port)}
        if env.get("TNS_KAFKA_GROUP_INSTANCE_ID"):
            # Static membership asked for: a name of its own, kept across a restart, as a pod's.
            self.env["TNS_KAFKA_GROUP_INSTANCE_ID"] += f"-{name}{tag}"
        self.log_path = log_dir / f"{name}{tag}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

    async def ready(self, timeout: float = 120) -> float:
        """Seconds until ``/readyz`` answered 200."""
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=1) as client:
            while time.monotonic() - started < timeout:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return time.monotonic() - started
                await asyncio.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready:\n{self.log_path.read_text()[-3000:]}")

    async def start(self) -> float:
        self.launch()
        return await self.ready()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no offset commit."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def pids(self) -> list[int]:
        return family(self.proc.pid) if self.proc is not None and self.proc.poll() is None else []


class Pipeline:
    """The four services (and any extra instances) on one broker, database and namespace."""

    def __init__(
        self, kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, log_dir: Path
    ) -> None:
        self.kafka = kafka
        self.postgres = postgres
        self.topics = Topics(namespace)
        self.env = process_env(kafka, postgres, namespace)
        self.log_dir = log_dir
        self.services = {n: Instance(n, self.env, log_dir) for n in SERVICES}
        self.extra: list[Instance] = []
        self.keys: dict[str, str] = {}

    async def start(self) -> None:
        await ensure_topics(
            self.kafka.bootstrap_servers,
            [
                self.topics.reports_received,
                self.topics.reports_classified,
                self.topics.reports_routed,
                self.topics.decisions,
                self.topics.actions,
                self.topics.notifications,
            ],
            3,
        )
        for service, _, flag, _, scopes in DEV_KEYS:
            self.keys[service] = await asyncio.to_thread(
                create_key, service, self.env, flag, "bench", scopes
            )
        for s in self.services.values():
            s.launch()
        await asyncio.gather(*(s.ready() for s in self.services.values()))

    async def add_instance(self, name: str) -> Instance:
        inst = Instance(name, self.env, self.log_dir, tag=f"-{len(self.extra) + 2}")
        self.extra.append(inst)
        await inst.start()
        return inst

    def stop(self) -> None:
        for s in [*self.extra, *self.services.values()]:
            s.stop()

    def __getitem__(self, name: str) -> Instance:
        return self.services[name]

    @property
    def intake_url(self) -> str:
        return self.services["intake"].url

    async def stored_duplicates(self) -> int:
        """From enforcement's tables: reports with two decision rows, plus (report, action)
        pairs with two action rows."""
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(self.postgres.url)
        try:
            async with engine.connect() as conn:
                found = await conn.scalar(
                    text(
                        "SELECT (SELECT count(*) FROM (SELECT 1 FROM enforcement.decisions "
                        "GROUP BY report_id HAVING count(*) > 1) d) + (SELECT count(*) FROM "
                        "(SELECT 1 FROM enforcement.actions GROUP BY report_id, action "
                        "HAVING count(*) > 1) a)"
                    )
                )
        finally:
            await engine.dispose()
        return int(found or 0)

    def verify_audit(self) -> bool:
        done = subprocess.run(
            [sys.executable, "-m", "services.enforcement", "verify"],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            check=False,
        )
        return done.returncode == 0


# --- the watcher ----------------------------------------------------------------------------


@dataclass
class Seen:
    """What the watcher knows about one report."""

    at: dict[str, float] = field(default_factory=dict)  # stage -> record timestamp (epoch s)
    decisions: set[str] = field(default_factory=set)
    actions: set[tuple[str, str]] = field(default_factory=set)  # (decision id, action type)


class Watcher:
    """Reads the output topics from the start; per report, the first record of each stage."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.topics = topics
        self.reports: dict[str, Seen] = defaultdict(Seen)
        self.counts: dict[str, int] = defaultdict(int)
        self._stage = {
            topics.reports_received: "received",
            topics.reports_classified: "classified",
            topics.reports_routed: "routed",
            topics.decisions: "decided",
            topics.actions: "action",
            topics.notifications: "notified",
        }
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=5,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            metadata_max_age_ms=2000,
        )
        self._seen: set[tuple[str, int, int]] = set()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watcher:
        await self._consumer.start()
        ns = self.topics.namespace.replace(".", r"\.")
        self._consumer.subscribe(
            pattern=rf"^{ns}tns\.(reports\.|decisions|actions\.v1|notifications|review\.)"
        )
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await self._consumer.stop()

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100, max_records=5000)
            for tp, records in batch.items():
                stage = self._stage.get(tp.topic, "review")
                for r in records:
                    if (tp.topic, r.partition, r.offset) in self._seen:
                        continue  # re-read after a re-assignment, not sent twice
                    self._seen.add((tp.topic, r.partition, r.offset))
                    self.counts[stage] += 1
                    try:
                        self._note(stage, r.timestamp / 1000, orjson.loads(r.value or b"{}"))
                    except (ValueError, TypeError, AttributeError):
                        continue  # a poison message (the services dead-letter it)

    def _mark(self, report_id: str, stage: str, at: float) -> Seen:
        seen = self.reports[report_id]
        if stage not in seen.at:
            seen.at[stage] = at
        return seen

    def _note(self, stage: str, at: float, event: dict[str, Any]) -> None:
        payload = event.get("payload") or {}
        if stage in ("received", "classified"):
            report = payload.get("report") or payload
            self._mark(str(report.get("report_id") or event.get("correlation_id")), stage, at)
        elif stage == "routed":
            self._mark(str(event.get("correlation_id")), stage, at)
        elif stage == "decided":
            ids = {payload.get("report_id"), *(payload.get("report_ids") or [])} - {None}
            for rid in ids:
                self._mark(str(rid), stage, at).decisions.add(str(payload.get("decision_id")))
        elif stage == "action":
            seen = self._mark(str(payload.get("report_id")), stage, at)
            seen.actions.add((str(payload.get("decision_id")), str(payload.get("action"))))
        elif stage == "notified":
            if payload.get("recipient") == "notifier":
                self._mark(str(payload.get("report_id")), "done", at)
        else:  # a review task: its case's reports are with a person, done for the pipeline
            # (two reports on one subject in one batch share one task, which names the latest
            # as ``report`` and every linked one in ``report_ids``)
            task = payload.get("report") or {}
            ids = {task.get("report_id") or event.get("correlation_id")}
            for rid in ids | set(payload.get("report_ids") or []):
                self._mark(str(rid), "done", at)

    def done(self, report_ids: list[str]) -> int:
        return sum(1 for r in report_ids if "done" in self.reports.get(r, Seen()).at)

    async def wait_done(self, report_ids: list[str], timeout: float) -> float:
        """Seconds until every report is done (raises ``TimeoutError`` with the count)."""
        started = time.monotonic()
        while self.done(report_ids) < len(report_ids):
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{self.done(report_ids)} of {len(report_ids)} reports done")
            await asyncio.sleep(0.05)
        return time.monotonic() - started


def verify(watcher: Watcher, accepted: list[dict[str, Any]], since: float) -> dict[str, Any]:
    """Exactly once, from the topics: every accepted (not held) notice done, no notice decided
    by two decisions, no action twice, and no decision about a report no client was given (a
    notice accepted twice under two report ids). ``since``: epoch time the run started; reports
    received before it belong to earlier runs."""
    given = {a["report_id"] for a in accepted}
    expected = [a["report_id"] for a in accepted if a["status"] != "held"]
    lost = [r for r in expected if "done" not in watcher.reports.get(r, Seen()).at]
    twice = [r for r in given if len(watcher.reports.get(r, Seen()).decisions) > 1]
    actions_twice = [
        r
        for r in given
        if len({a for _, a in watcher.reports.get(r, Seen()).actions})
        < len(watcher.reports.get(r, Seen()).actions)
    ]
    unknown = [
        r
        for r, s in list(watcher.reports.items())
        if s.decisions and r not in given and s.at.get("received", 0) >= since
    ]
    keys = [a["key"] for a in accepted]
    return {
        "accepted": len(accepted),
        "held": len(accepted) - len(expected),
        "lost": len(lost),
        "decided_twice": len(twice),
        "actions_twice": len(actions_twice),
        "decided_unknown_report": len(unknown),
        "keys_accepted_twice": len(keys) - len(set(keys)),
        "ok": not (lost or twice or actions_twice or unknown) and len(keys) == len(set(keys)),
        # What became of the first lost reports: the stages the watcher saw for each.
        "lost_examples": {
            r: sorted((at := watcher.reports.get(r, Seen()).at), key=at.__getitem__)
            for r in lost[:10]
        },
    }


# --- the load generator, as a process ----------------------------------------------------------


class Load:
    """``python -m bench.load`` running in the background; ``result()`` once it has finished."""

    def __init__(
        self,
        url: str,
        key: str,
        rate: float,
        seconds: float,
        out: Path,
        *,
        seed: int = 1,
        malformed_every: int = 0,
    ) -> None:
        self.out = out
        self.started_at = time.time()
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.load", url, key, str(rate), str(seconds), str(out)),
                *("--seed", str(seed), "--malformed-every", str(malformed_every)),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    async def result(self, timeout: float = 600) -> dict[str, Any]:
        started = time.monotonic()
        while self.proc.poll() is None:
            if time.monotonic() - started > timeout:
                self.proc.kill()
                raise TimeoutError("the load generator did not finish")
            await asyncio.sleep(0.1)
        if self.proc.returncode != 0:
            assert self.proc.stderr is not None
            raise RuntimeError(f"load generator failed: {self.proc.stderr.read().decode()[-2000:]}")
        result: dict[str, Any] = json.loads(self.out.read_text())
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)

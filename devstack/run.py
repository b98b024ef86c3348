"""``make run``: the whole pipeline on the embedded stack, in the foreground.

Starts PostgreSQL (data kept in ``.devstack/pg``) and a Tansu broker (in memory), applies the
migrations, creates the topics and a development API key, then runs the four services on fixed
ports with their logs prefixed by name. Ctrl-C stops everything.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".devstack"
BROKER_PORT = 19092
PORTS = {"intake": 8001, "classifier": 8002, "router": 8003, "enforcement": 8004}
COLOURS = {"intake": 36, "classifier": 35, "router": 33, "enforcement": 32, "stack": 37}


def say(name: str, line: str) -> None:
    prefix = (
        f"\033[{COLOURS[name]}m{name:>11} |\033[0m " if sys.stdout.isatty() else f"{name:>11} | "
    )
    sys.stdout.write(prefix + line.rstrip("\n") + "\n")
    sys.stdout.flush()


def pump(name: str, stream: IO[bytes]) -> None:
    for raw in iter(stream.readline, b""):
        say(name, raw.decode(errors="replace"))


# The development keys: (service, file in .devstack, principal flag, principal, scopes).
DEV_KEYS = (
    ("intake", "api-key", "--client", "dev-client", "reports:write,reports:read,kpi:read"),
    (
        "enforcement",
        "enforcement-api-key",
        "--client",
        "dev-client",
        "actions:read,actions:confirm,appeals:write,audit:read,stats:read",
    ),
    (
        "enforcement",
        "enforcement-ops-api-key",
        "--client",
        "dev-ops",
        "actions:read,audit:read,stats:read,enforcement:read_all,kpi:read",
    ),
    ("router", "reviewer-api-key", "--reviewer", "dev-reviewer", "review:*,ops:read,kpi:read"),
    ("classifier", "classifier-api-key", "--client", "dev-ops", "banks:read,banks:write"),
)


def create_key(service: str, env: dict[str, str], flag: str, principal: str, scopes: str) -> str:
    """Create an API key with a service's ``keys create`` command; returns the key."""
    command = ["keys", "create", flag, principal, "--scopes", scopes]
    out = subprocess.run(
        [sys.executable, "-m", f"services.{service}", *command],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    key: str = json.loads(out.strip().splitlines()[-1])["key"]
    return key


def dev_keys(env: dict[str, str]) -> dict[str, Path]:
    """The development keys, created once and kept in ``.devstack/``; file per service."""
    paths = {}
    for service, name, flag, principal, scopes in DEV_KEYS:
        path = STATE / name
        if not path.exists():
            path.write_text(create_key(service, env, flag, principal, scopes) + "\n")
            path.chmod(0o600)
        paths[service] = path
    return paths


def _terminate(*_: object) -> None:
    raise SystemExit(0)


def main() -> int:
    # From here on SIGTERM unwinds like Ctrl-C, so the finally block always cleans up.
    signal.signal(signal.SIGTERM, _terminate)
    STATE.mkdir(exist_ok=True)
    say("stack", "starting PostgreSQL ...")
    pg = EmbeddedPostgres(STATE / "pg").start()
    say("stack", f"starting the Kafka-compatible broker on 127.0.0.1:{BROKER_PORT} ...")
    broker_log = (STATE / "broker.log").open("ab")
    kafka = EmbeddedKafka(BROKER_PORT, log=broker_log).start()
    env = {
        **os.environ,
        "TNS_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "TNS_DATABASE_URL": pg.url,
        "TNS_LOG_JSON": os.environ.get("TNS_LOG_JSON", "false"),
        # As in the benches: a killed service's partitions come back about 2 s after it is
        # restarted (11 s with the 6 s default, which Apache Kafka's minimum requires).
        "TNS_CONSUMER_SESSION_TIMEOUT_MS": os.environ.get(
            "TNS_CONSUMER_SESSION_TIMEOUT_MS", "3000"
        ),
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        keys = dev_keys(env)
        for name, port in PORTS.items():
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}", "serve"],
                env={**env, "TNS_HTTP_PORT": str(port)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
            assert procs[name].stdout is not None
            threading.Thread(target=pump, args=(name, procs[name].stdout), daemon=True).start()
        for port in PORTS.values():
            wait_for_port(port, timeout=60)
        say(
            "stack",
            "ready: intake http://127.0.0.1:8001/docs  enforcement http://127.0.0.1:8004/docs",
        )
        for service, path in keys.items():
            say("stack", f"development API key for {service}: {path.relative_to(ROOT)}")
        say("stack", "Ctrl-C stops everything")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                dead = [n for n, p in procs.items() if p.poll() is not None]
                if dead:
                    say("stack", f"{', '.join(dead)} exited; stopping")
                    return 1
                threading.Event().wait(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C or SIGTERM (``uv run`` forwards the first one too) must not cut the
        # clean-up short and leave services, broker or database running.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        say("stack", "stopping ...")
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        kafka.stop()
        pg.stop()
        broker_log.close()
        say("stack", "stopped")

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

from shared.embedded import EmbeddedKafka, EmbeddedPostgres, wait_for_port

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


def dev_key(env: dict[str, str]) -> str:
    """The development API key, created once and kept in ``.devstack/api-key``."""
    path = STATE / "api-key"
    if path.exists():
        return path.read_text().strip()
    out = subprocess.run(
        [sys.executable, "-m", "services.intake", "keys", "create", "--client", "dev-client"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    key: str = json.loads(out.strip().splitlines()[-1])["key"]
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


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
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        key = dev_key(env)
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
        say("stack", f"development API key (also in .devstack/api-key): {key}")
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


if __name__ == "__main__":
    sys.exit(main())

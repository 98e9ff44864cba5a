"""A real proxmon server process for end-to-end tests and benchmarks.

Runs `manage.py migrate` and `manage.py serve` (daphne) on a free port with a database of its
own, so tests speak to it over real sockets exactly as agents do: a new SQLite file, or, when
DATABASE_URL names PostgreSQL, a new database on that server (dropped again by `drop()`).
With REDIS_URL set, the server uses Redis as channel layer under a prefix of its own, unless
servers are meant to share it (pass PROXMON_REDIS_PREFIX).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    env: dict[str, str]  # the server process's environment

    def __init__(self, workdir: Path, share: LiveServer | None = None, **env: str) -> None:
        """`share`: run as a second process of that server (same database, same Redis)."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.workdir / "proxmon.sqlite3"
        self.port = free_port()
        self.log_path = self.workdir / "server.log"
        base_url = env.pop("DATABASE_URL", None) or os.environ.get("DATABASE_URL", "")
        self.postgres_url = ""
        if share is not None:
            self.db_path = share.db_path
            self.postgres_url = share.postgres_url
            database_url = share.env["DATABASE_URL"]
            env = {"PROXMON_REDIS_PREFIX": share.env["PROXMON_REDIS_PREFIX"], **env}
        elif base_url.startswith(("postgres://", "postgresql://")):
            self.postgres_url = _create_database(base_url, f"proxmon_e2e_{uuid.uuid4().hex[:12]}")
            database_url = self.postgres_url
        else:
            database_url = f"sqlite:///{self.db_path}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "PROXMON_REDIS_PREFIX": f"proxmon-e2e-{uuid.uuid4().hex[:8]}",
            "SECRET_KEY": "e2e-tests-only-0123456789abcdefghijklmnopqrstuvwxyz",
            "PROXMON_HTTPS": "0",
            "PROXMON_TOKEN_BCRYPT_ROUNDS": "4",
            "PROXMON_DB_CONN_MAX_AGE": "60",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process: subprocess.Popen | None = None
        self.shared = share is not None
        if not self.shared:
            self.manage("migrate", "--noinput", "-v0")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/agent"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def add_host(self, name: str) -> str:
        return self.manage("add_host", name).strip().splitlines()[-1]

    def start(self, timeout: float = 30) -> LiveServer:
        with open(self.log_path, "a") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "manage.py"), "serve", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not listen within {timeout} s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def kill(self) -> None:
        """Crash: SIGKILL, no clean-up of any kind."""
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    @property
    def engine(self) -> str:
        return "postgresql" if self.postgres_url else "sqlite"

    def query(self, sql: str, *params) -> list[tuple]:
        """Run SQL on the server's database (`?` placeholders, on either engine)."""
        if self.postgres_url:
            import psycopg

            with psycopg.connect(self.postgres_url, autocommit=True) as db:
                cursor = db.execute(sql.replace("?", "%s"), params)
                return cursor.fetchall() if cursor.description else []
        with sqlite3.connect(self.db_path, timeout=20) as db:
            return db.execute(sql, params).fetchall()

    @contextlib.contextmanager
    def samples_locked(self):
        """Hold a lock that stalls every write of a sample until the block ends.

        SQLite: the database's write lock. PostgreSQL: an EXCLUSIVE lock on the samples table
        (reads go on, inserts wait).
        """
        if self.postgres_url:
            import psycopg

            with psycopg.connect(self.postgres_url) as db:
                db.execute("LOCK TABLE metrics_sample IN EXCLUSIVE MODE")
                try:
                    yield
                finally:
                    db.rollback()
            return
        db = sqlite3.connect(self.db_path, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            yield
            db.execute("ROLLBACK")
        finally:
            db.close()

    def payloads(self, tier: str) -> list[dict]:
        """The stored samples of a tier, decoded ({"data", "errors"}), oldest first."""
        from metrics import codec

        rows = self.query(
            "SELECT s.body, k.data FROM metrics_sample s"
            " LEFT JOIN metrics_keyframe k ON k.id = s.keyframe_id"
            " WHERE s.tier = ? ORDER BY s.collected_at",
            tier,
        )
        return [codec.decode(body, keyframe) for body, keyframe in rows]

    def drop(self) -> None:
        """Remove the server's PostgreSQL database (SQLite files go with the temp folder)."""
        if self.postgres_url and not self.shared:
            _drop_database(self.postgres_url)

    def host_status(self, name: str) -> str:
        rows = self.query("SELECT status FROM hosts_host WHERE name = ?", name)
        return rows[0][0] if rows else ""

    def wait_for(self, predicate, timeout: float = 10, interval: float = 0.05):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(interval)


def _admin_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))


def _create_database(base_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(_admin_url(base_url), autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _drop_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_admin_url(url), autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

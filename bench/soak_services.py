"""The soak's PostgreSQL: a private server of its own (initdb + pg_ctl in a temporary
directory, on a free port of 127.0.0.1), which it may stop and start, or a database on a
shared server, where the only fault is terminating the database's connections.

As root, PostgreSQL refuses to run: the private server then runs as the ``postgres`` user
(``runuser``), in a directory that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import asyncpg

HOST = "127.0.0.1"
START_TIMEOUT = 60.0
CONNECT_TIMEOUT = 5.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def postgres_binaries() -> Path:
    """The newest installed ``/usr/lib/postgresql/<version>/bin`` (Debian's layout)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql)")
    return Path(found[-1]).parent


class Postgres:
    """Where the bench database lives: ``admin_dsn`` for asyncpg, ``url(name)`` for the
    nodes. ``restartable`` says whether ``stop``/``start`` are possible."""

    restartable = False
    server = ""  # user@host:port

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://{self.server}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.server}/{database}"

    def dsn(self, database: str) -> str:
        return f"postgresql://{self.server}/{database}"

    async def create_database(self, name: str) -> None:
        admin = await asyncpg.connect(self.admin_dsn, timeout=CONNECT_TIMEOUT)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    async def drop_database(self, name: str) -> None:
        admin = await asyncpg.connect(self.admin_dsn, timeout=CONNECT_TIMEOUT)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    async def terminate(self, database: str) -> int:
        """``pg_terminate_backend`` for every connection to ``database``; how many."""
        admin = await asyncpg.connect(self.admin_dsn, timeout=CONNECT_TIMEOUT)
        try:
            count = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        finally:
            await admin.close()
        return int(count or 0)

    async def answers(self) -> bool:
        try:
            connection = await asyncpg.connect(self.admin_dsn, timeout=1.0)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await connection.close()
        return True

    def start(self) -> None:
        raise RuntimeError("a shared PostgreSQL server is not restarted by the bench")

    def stop(self, mode: str = "fast") -> None:
        raise RuntimeError("a shared PostgreSQL server is not restarted by the bench")

    def log(self) -> str:
        return ""


@dataclass
class SharedPostgres(Postgres):
    """A server that others use too (``--postgres user@host:port``)."""

    server: str = "postgres@127.0.0.1:5432"


class PrivatePostgres(Postgres):
    """``initdb`` + ``pg_ctl`` in ``directory``, listening on 127.0.0.1 only (trust
    authentication, user ``postgres``), on a free port; stopped and started at will."""

    restartable = True

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.server = f"postgres@{HOST}:{self.port}"
        self.bin = postgres_binaries()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise RuntimeError("running as root needs runuser to start PostgreSQL")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.running = False

    def _run(self, *command: str, timeout: float = START_TIMEOUT) -> None:
        done = subprocess.run(
            [*self.as_user, *command],
            check=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
        if done.returncode != 0:
            output = done.stdout.decode(errors="replace")[-2000:]
            raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n{output}")

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            # mkdtemp's 0700: the postgres user must be able to pass through to its own.
            self.directory.parent.chmod(0o711)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-c listen_addresses={HOST} -p {self.port} "
            f"-c unix_socket_directories={self.directory} -c max_connections=200 "
            "-c shared_buffers=64MB"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(int(START_TIMEOUT)),
            "start",
        )
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast|immediate`` (immediate: no checkpoint, recovery on start)."""
        if not self.running:
            return
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def log(self) -> str:
        path = self.directory / "postgres.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

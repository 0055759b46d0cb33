"""A PostgreSQL server of the test's own (``initdb`` + ``pg_ctl``), on a free port, that can be
stopped (``-m immediate``: connections drop at once, like a crash) and started again on the
same port and data. As root, the server runs as the ``postgres`` user (PostgreSQL refuses
root). Skipped when the binaries are missing, except on CI."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster import HOST, missing
from tests.support import free_port

TIMEOUT = 30


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found is None:
        versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
        found = versions[-1] if versions else None
    return found


@dataclass
class PrivatePostgres:
    directory: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        """The ``postgres`` database, as a SQLAlchemy URL."""
        return f"postgresql+asyncpg://postgres@{HOST}:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        binary = _binary(command[0])
        if binary is None:
            missing(f"{command[0]} is not installed (PostgreSQL server binaries)")
        assert binary is not None
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, binary, *command[1:]],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=TIMEOUT,
        )

    def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        self._run(
            "initdb", "-D", str(self.directory / "data"), "-U", "postgres", "--auth=trust", "-N"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses={HOST} -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.directory / "data"),
            "-o",
            options,
            "-l",
            str(self.directory / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    # Its own directory (pytest's tmp_path is root's only), removed afterwards.
    directory = Path(tempfile.mkdtemp(prefix="porchlight-pg-"))
    server = PrivatePostgres(directory)
    try:
        server.create()
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)

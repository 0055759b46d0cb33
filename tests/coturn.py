"""Test support: a real coturn (``turnserver``) on 127.0.0.1 with a random port, relay port
range and shared secret, configured like production except that it relays to loopback peers
(both test peers live on 127.0.0.1) and has no TLS, CLI or web admin.

When ``turnserver`` is not installed the test is skipped, except on CI (``CI=true``), where
it fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import free_port

HOST = "127.0.0.1"
REALM = "porchlight.test"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
RELAY_PORTS = 64
# Below Linux's default ephemeral range (32768-60999), so the relay range rarely collides
# with sockets the test process opens itself.
RELAY_PORT_FLOOR = 20000
RELAY_PORT_CEILING = 32000


@dataclass(frozen=True)
class Coturn:
    """A running coturn: its address, shared secret and log file.

    Its attributes also satisfy ``server.turn.TurnSettings`` (``turn_host`` …).
    """

    host: str
    port: int
    secret: str
    log_path: Path
    turn_ttl: int = 600

    @property
    def turn_host(self) -> str:
        return self.host

    @property
    def turn_port(self) -> int:
        return self.port

    @property
    def turn_secret(self) -> str:
        return self.secret

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def turnserver_binary() -> str:
    """The ``turnserver`` path, or a skipped (on CI: failed) test saying why."""
    found = shutil.which("turnserver")
    if found is None:
        reason = "coturn (turnserver) is not installed: apt-get install coturn"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def free_udp_range(count: int) -> tuple[int, int]:
    """A random range of ``count`` UDP ports on 127.0.0.1 that are free right now."""
    rng = secrets.SystemRandom()
    for _ in range(50):
        first = rng.randrange(RELAY_PORT_FLOOR, RELAY_PORT_CEILING - count)
        try:
            for port in range(first, first + count):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                    probe.bind((HOST, port))
        except OSError:
            continue
        return first, first + count - 1
    raise RuntimeError(f"no free range of {count} UDP ports found")


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((HOST, port)) == 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


# Options of the production file that tests replace (addresses, secret) or cannot use (syslog,
# dropping privileges to a user that may not exist).
REPLACED_OPTIONS = (
    "listening-port",
    "listening-ip",
    "relay-ip",
    "external-ip",
    "min-port",
    "max-port",
    "static-auth-secret",
    "realm",
    "syslog",
    "proc-user",
    "proc-group",
    "pidfile",
    "userdb",
    "log-file",
)


def production_config(source: Path, directory: Path) -> Path:
    """A copy of the production ``turnserver.conf`` without the options the test sets."""
    kept = [
        line
        for line in source.read_text(encoding="utf-8").splitlines()
        if line.split("=", 1)[0].strip() not in REPLACED_OPTIONS
    ]
    copy = directory / "turnserver.conf"
    copy.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return copy


@contextmanager
def running_coturn(directory: Path, production: Path | None = None) -> Iterator[Coturn]:
    """Start coturn, wait until it accepts TCP on its port, yield it, stop it.

    By default everything is on the command line and loopback peers are allowed (tests only:
    both peers are on 127.0.0.1). With ``production``, coturn reads that configuration file
    instead (addresses, secret and log placement still come from here) and loopback peers
    keep the production file's treatment.
    """
    binary = turnserver_binary()
    port = free_port()
    min_port, max_port = free_udp_range(RELAY_PORTS)
    secret = secrets.token_urlsafe(24)
    log_path = directory / "turnserver.log"
    if production is None:
        config = [
            "-n",  # no configuration file: everything is on this command line
            "--fingerprint",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--no-rfc5780",
            "--no-software-attribute",
            "--no-multicast-peers",
            "--allow-loopback-peers",
        ]
    else:
        config = ["-c", str(production_config(production, directory))]
    command = [
        binary,
        *config,
        f"--listening-ip={HOST}",
        f"--relay-ip={HOST}",
        f"--listening-port={port}",
        f"--min-port={min_port}",
        f"--max-port={max_port}",
        "--use-auth-secret",
        f"--static-auth-secret={secret}",
        f"--realm={REALM}",
        "--log-file=stdout",
        # Per-request results (e.g. "403: Forbidden IP"), which tests look for.
        "--verbose",
        f"--pidfile={directory / 'turnserver.pid'}",
        # Keep coturn away from the system database (/var/lib/turn/turndb).
        f"--userdb={directory / 'turndb'}",
    ]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _accepts(port):
            if process.poll() is not None:
                raise RuntimeError(
                    f"turnserver exited with {process.returncode}:\n"
                    + log_path.read_text(errors="replace")[-4000:]
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"turnserver did not accept on {HOST}:{port} within {START_TIMEOUT}s:\n"
                    + log_path.read_text(errors="replace")[-4000:]
                )
            time.sleep(0.02)
        yield Coturn(host=HOST, port=port, secret=secret, log_path=log_path)
    finally:
        with suppress(ProcessLookupError):
            _stop(process)

"""Test support: a real coturn (``turnserver``) running the shipped configuration,
``deploy/coturn/turnserver.conf``, on 127.0.0.1 with a random port, relay port range and
shared secret.

Only what cannot be the same as in production is given on the command line, where it
overrides the file: addresses and ports, the secret and realm, the pid file, the user
database, and the user coturn runs as (the file drops privileges to ``turnserver``). Tests
whose two peers are both on 127.0.0.1 also allow relaying to that one address; everything
else the file refuses stays refused.

coturn applies the file's logging options after the command line's, so logging is the
file's: stdout, line by line, which goes to ``Coturn.log_path``.

When ``turnserver`` is not installed the test is skipped, except on CI (``CI=true``), where
it fails.
"""

from __future__ import annotations

import grp
import os
import pwd
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
HOST_V6 = "::1"
REALM = "porchlight.test"
SHIPPED_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "coturn" / "turnserver.conf"
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


def coturn_command(
    binary: str,
    directory: Path,
    *,
    port: int,
    relay_ports: tuple[int, int],
    secret: str,
    loopback_peers: bool,
    ipv6: bool,
) -> list[str]:
    """The ``turnserver`` command line: the shipped file, then the options tests override."""
    hosts = [HOST, HOST_V6] if ipv6 else [HOST]
    command = [binary, "-c", str(SHIPPED_CONFIG)]
    for host in hosts:
        command += [f"--listening-ip={host}", f"--relay-ip={host}"]
    if ipv6:
        # A client that reaches coturn over IPv6 gets an IPv6 relay (the default is IPv4),
        # which is what CreatePermission needs before it checks an IPv6 peer.
        command.append("--allocation-default-address-family=keep")
    command += [
        f"--listening-port={port}",
        f"--min-port={relay_ports[0]}",
        f"--max-port={relay_ports[1]}",
        f"--static-auth-secret={secret}",
        f"--realm={REALM}",
        # Per-request results (e.g. "403: Forbidden IP"), for whoever reads a failing test.
        "--verbose",
        f"--pidfile={directory / 'turnserver.pid'}",
        # Keep coturn away from the system database (/var/lib/turn/turndb).
        f"--userdb={directory / 'turndb'}",
        # Stay who we are: the file's turnserver user may not exist, or may not be allowed
        # into ``directory``.
        f"--proc-user={pwd.getpwuid(os.getuid()).pw_name}",
        f"--proc-group={grp.getgrgid(os.getgid()).gr_name}",
    ]
    if loopback_peers:
        # Both test peers are on 127.0.0.1. coturn refuses loopback peers before it reads
        # any list, then lets allowed-peer-ip win over the file's denied-peer-ip ranges: so
        # exactly 127.0.0.1 becomes reachable, nothing else of 127.0.0.0/8 or ::1.
        command += ["--allow-loopback-peers", f"--allowed-peer-ip={HOST}"]
    return command


@contextmanager
def running_coturn(
    directory: Path, *, loopback_peers: bool = True, ipv6: bool = False
) -> Iterator[Coturn]:
    """Start coturn with the shipped configuration, wait until it accepts TCP on its port,
    yield it, stop it.

    :param directory: where the log, pid file and user database go.
    :param loopback_peers: relay to peers on 127.0.0.1 (tests whose peers are both on this
        machine); False runs the shipped file's peer rules unchanged.
    :param ipv6: also listen and relay on ::1, handing IPv6 relays to clients that come
        over IPv6.
    """
    binary = turnserver_binary()
    port = free_port()
    secret = secrets.token_urlsafe(24)
    log_path = directory / "turnserver.log"
    command = coturn_command(
        binary,
        directory,
        port=port,
        relay_ports=free_udp_range(RELAY_PORTS),
        secret=secret,
        loopback_peers=loopback_peers,
        ipv6=ipv6,
    )
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

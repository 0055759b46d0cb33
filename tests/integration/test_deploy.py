"""deploy/: what docker-compose.yml would start, tested without Docker (which cannot run on
these machines): its settings are real settings, its files exist, nginx accepts the site
configuration and really proxies two nodes' sockets, and systemd accepts the unit.

nginx and systemd-analyze are skipped when missing, except on CI (``CI=true``).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from server.settings import ENV_PREFIX, Settings, SettingsError, load_settings
from tests.cluster import Proxy, customer_on, missing, running_cluster, staff_on
from tests.support import Peer, free_port, until

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX = DEPLOY / "nginx"
START_TIMEOUT = 10.0


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return loaded


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


def binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        missing(f"{name} is not installed (make system installs it)")
    assert found is not None
    return found


def test_the_compose_file_starts_a_fleet_with_real_settings() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "node1", "node2", "proxy", "coturn"}
    node = services["node1"]
    assert services["node2"] == node
    environment = {
        **env_file(DEPLOY / "fleet.env.example"),
        **{key: str(value) for key, value in node["environment"].items()},
    }
    for key in environment:
        assert key.startswith(ENV_PREFIX), key
        assert key[len(ENV_PREFIX) :].lower() in Settings.model_fields, key
    # ${POSTGRES_PASSWORD:?...} is compose's; the rest is what a node is given.
    resolved = {
        key: re.sub(r"\$\{POSTGRES_PASSWORD[^}]*\}", "pw", value)
        for key, value in environment.items()
    }
    # As shipped, the example's placeholders stop a production node; filled in, it starts.
    with pytest.raises(SettingsError, match="secret_key"):
        load_settings(environ=resolved)
    filled = {
        key: secrets.token_hex(24) if value.startswith("CHANGE-ME") else value
        for key, value in resolved.items()
    }
    settings = load_settings(environ=filled)
    assert settings.mode == "production"
    assert settings.database_url.startswith("postgresql+asyncpg://porchlight:pw@postgres/")
    assert settings.redis_url == "redis://redis:6379/0"
    assert node["depends_on"]["redis"]["condition"] == "service_healthy"
    proxy_address = services["proxy"]["networks"]["porchlight"]["ipv4_address"]
    assert any(ipaddress.ip_address(proxy_address) in net for net in settings.proxy_networks)

    for service in services.values():
        for volume in service.get("volumes", []):
            host = volume.split(":", 1)[0]
            if host.startswith("./") and host != "./certs":  # certificates are the site's
                assert (DEPLOY / host).exists(), host
    assert (
        ROOT / node["build"]["context"].replace("..", ".") / node["build"]["dockerfile"]
    ).exists()

    upstream = re.findall(
        r"^\s*server\s+([\w.-]+):(\d+)", (NGINX / "porchlight.conf").read_text(), re.M
    )
    assert sorted(upstream) == [("node1", "8080"), ("node2", "8080")]


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    subprocess.run(
        [binary("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=chat.example.com", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def nginx_config(directory: Path, http: str) -> Path:
    """A main nginx.conf of the test's own (pid, logs, temp files in ``directory``)."""
    config = directory / "nginx.conf"
    config.write_text(
        f"""
daemon off;
master_process off;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} info;
events {{ worker_connections 1024; }}
http {{
    access_log {directory / "access.log"};
    client_body_temp_path {directory};
    proxy_temp_path {directory};
    fastcgi_temp_path {directory};
    uwsgi_temp_path {directory};
    scgi_temp_path {directory};
{http}
}}
"""
    )
    return config


def site_for_test(directory: Path, nodes: list[str]) -> str:
    """deploy/nginx/porchlight.conf with the test's nodes, ports, certificate and snippet."""
    cert, key = self_signed(directory)
    site = (NGINX / "porchlight.conf").read_text()
    upstream = "".join(f"    server {node};\n" for node in nodes)
    site = re.sub(r"(?m)^\s*server\s+node\d:8080[^;]*;\n", "", site)
    site = site.replace("upstream porchlight {\n", "upstream porchlight {\n" + upstream)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{free_port()} ssl http2;")
    site = re.sub(r"(?m)^\s*listen \[::\].*\n", "", site)
    site = site.replace("/etc/letsencrypt/live/chat.example.com/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/chat.example.com/privkey.pem", str(key))
    return site.replace(
        "/etc/nginx/snippets/porchlight-locations.conf", str(NGINX / "porchlight-locations.conf")
    )


def test_nginx_accepts_the_site_configuration(tmp_path: Path) -> None:
    config = nginx_config(tmp_path, site_for_test(tmp_path, ["127.0.0.1:1", "127.0.0.1:2"]))
    checked = subprocess.run(
        [binary("nginx"), "-t", "-c", str(config)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert "[warn]" not in checked.stderr and "[emerg]" not in checked.stderr, checked.stderr


@contextmanager
def running_nginx(directory: Path, http: str, port: int) -> Iterator[None]:
    """nginx in the foreground with ``http`` as its http block, until it listens on ``port``."""
    config = nginx_config(directory, http)
    process = subprocess.Popen(
        [binary("nginx"), "-c", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _accepts(port):
            assert process.poll() is None, (directory / "error.log").read_text()
            assert time.monotonic() < deadline, "nginx is not listening"
            time.sleep(0.02)
        yield
    finally:
        process.terminate()
        process.wait(START_TIMEOUT)


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.postgres
async def test_two_nodes_behind_nginx_take_sockets_without_stickiness(
    tmp_path: Path, clients: list[Peer]
) -> None:
    """The proxy's own /socket.io/ location, round-robin over two nodes: two tabs of one
    visitor land on different nodes and both chat with the staff member."""
    port = free_port()
    proxy = Proxy(f"http://127.0.0.1:{port}")
    async with running_cluster(tmp_path) as cluster:
        # The nodes' public address is the proxy's (pages, cookies and origins are its).
        node_a, node_b = await cluster.start("a", "b", public_url=proxy.url)
        await cluster.add_site()
        member = await cluster.add_staff("Ada")
        # Routing is still per node: ring and accept where both are, on node a (as if the
        # proxy had sent both there).
        staff = await staff_on(node_a, member, origin=proxy.url)
        clients.append(staff)
        visitor = customer_on(node_a, origin=proxy.url)
        clients.append(visitor)
        await visitor.connect()
        cid = (await visitor.ok("conversation.start", {}))["conversation"]["id"]
        await staff.wait_for("ring", lambda d: d["conversation"]["id"] == cid)
        await staff.ok("ring.accept", {"conversation_id": cid})

        proxied = tmp_path / "proxied.log"
        http = f"""
    log_format upstream '$uri $status $upstream_addr';
    map $http_upgrade $porchlight_connection {{ default upgrade; "" ""; }}
    upstream porchlight {{ server 127.0.0.1:{node_a.port}; server 127.0.0.1:{node_b.port}; }}
    server {{
        listen 127.0.0.1:{port};
        access_log {proxied} upstream;
        include {NGINX / "porchlight-locations.conf"};
    }}
"""
        with running_nginx(tmp_path, http, port):
            tabs = [customer_on(proxy, visitor.auth) for _ in range(2)]
            for tab in tabs:
                clients.append(tab)
                await tab.connect()
                await tab.ok("conversation.resume", {"conversation_id": cid, "last_seq": 0})
            await staff.ok("message.send", text(cid, "staff-to-tabs1", "to both tabs"))
            for tab in tabs:
                await tab.wait_for("message.new", lambda d: d["message"]["body"] == "to both tabs")
            await tabs[0].ok("message.send", text(cid, "tab-to-staff01", "from a tab"))
            await staff.wait_for("message.new", lambda d: d["message"]["body"] == "from a tab")
            await tabs[1].wait_for("message.new", lambda d: d["message"]["body"] == "from a tab")
            for tab in tabs:
                await tab.close()
            # nginx logs a websocket when it closes: one upgrade to each node.
            upgraded = await until(lambda: _upgrades(proxied, 2), what="two proxied sockets")
        assert sorted(upgraded) == sorted([f"127.0.0.1:{node_a.port}", f"127.0.0.1:{node_b.port}"])


def text(cid: str, msg_id: str, body: str) -> dict[str, Any]:
    return {"conversation_id": cid, "client_msg_id": msg_id, "body": body}


def _upgrades(log: Path, count: int) -> list[str] | None:
    if not log.exists():
        return None
    lines = [line.split() for line in log.read_text().splitlines()]
    found = [parts[2] for parts in lines if parts[:2] == ["/socket.io/", "101"]]
    return found if len(found) >= count else None


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = binary("systemd-analyze")
    unit = (DEPLOY / "systemd" / "porchlight.service").read_text()
    environment = tmp_path / "env"
    environment.write_text("PORCHLIGHT_MODE=development\n")
    unit = unit.replace(
        "/opt/porchlight/.venv/bin/porchlight", str(Path(sys.executable).parent / "porchlight")
    )
    unit = unit.replace("EnvironmentFile=/etc/porchlight/env", f"EnvironmentFile={environment}")
    path = tmp_path / "porchlight.service"
    path.write_text(unit)
    verified = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    # systemd only warns (exit 0) about a line it cannot parse: any output is a defect.
    assert verified.stderr.strip() == "", verified.stderr
    documented = set(re.findall(r"#\s+(PORCHLIGHT_\w+)=", unit))
    assert documented and all(
        key[len(ENV_PREFIX) :].lower() in Settings.model_fields for key in documented
    ), documented

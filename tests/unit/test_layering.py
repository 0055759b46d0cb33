"""The dependency directions of DESIGN.md: signaling never imports server, aiohttp or
jinja2; aiortc only in the media gateway."""

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]


def imports_of(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_signaling_stays_pure() -> None:
    for path, names in imports_of("signaling").items():
        assert not names & {"server", "aiohttp", "jinja2", "aiortc", "sqlalchemy"}, path


def test_aiortc_only_in_the_media_gateway() -> None:
    for package in ("server", "signaling", "demo_site"):
        for path, names in imports_of(package).items():
            if "aiortc" in names:
                assert path.startswith("server/media"), path


# The socket.io adapters; every other module of signaling/ takes ports only.
SOCKET_ADAPTERS = {"signaling/dispatch.py", "signaling/namespaces.py", "signaling/outbound.py"}


def modules_imported_by(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_socketio_only_in_the_namespace_adapters() -> None:
    for path in (ROOT / "signaling").rglob("*.py"):
        relative = str(path.relative_to(ROOT))
        if relative in SOCKET_ADAPTERS:
            continue
        imported = modules_imported_by(path)
        assert not any(m.split(".")[0] == "socketio" for m in imported), relative
        assert "signaling.outbound" not in imported, relative

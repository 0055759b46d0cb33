"""Size budgets of DESIGN.md, on the built files (they are deterministic; `make build`)."""

import gzip
import json
from pathlib import Path

import pytest

DIST = Path(__file__).parents[2] / "server" / "static" / "dist"
KB = 1024


def gzip_size(*names: str) -> int:
    manifest = json.loads((DIST / "manifest.json").read_text(encoding="utf-8"))
    return sum(len(gzip.compress((DIST / manifest[n]).read_bytes(), 9)) for n in names)


@pytest.fixture(autouse=True)
def built() -> None:
    if not (DIST / "manifest.json").exists():
        pytest.fail("bundles are not built: run `make build`")


def test_loader_is_at_most_3_kb_gzip() -> None:
    assert gzip_size("loader.js") <= 3 * KB


def test_customer_frame_with_socket_client_is_at_most_25_kb_gzip() -> None:
    assert gzip_size("frame.js", "frame.css") <= 25 * KB


def test_the_loader_opens_no_socket_and_stores_nothing() -> None:
    manifest = json.loads((DIST / "manifest.json").read_text(encoding="utf-8"))
    loader = (DIST / manifest["loader.js"]).read_text(encoding="utf-8")
    for forbidden in ("WebSocket", "socket.io", "document.cookie", "indexedDB"):
        assert forbidden not in loader, forbidden


def test_call_code_is_at_most_15_kb_gzip_and_not_in_the_frame() -> None:
    assert gzip_size("call.js") <= 15 * KB
    manifest = json.loads((DIST / "manifest.json").read_text(encoding="utf-8"))
    frame = (DIST / manifest["frame.js"]).read_text(encoding="utf-8")
    # loaded on demand: the frame knows the call code only by URL
    assert "RTCPeerConnection" not in frame


def test_the_chart_library_is_only_in_the_analytics_page() -> None:
    manifest = json.loads((DIST / "manifest.json").read_text(encoding="utf-8"))
    marker = "u-legend"  # uPlot's own class name for a chart's legend
    assert marker in (DIST / manifest["admin-analytics.js"]).read_text(encoding="utf-8")
    for name, file in manifest.items():
        if name.endswith(".js") and name != "admin-analytics.js":
            assert marker not in (DIST / file).read_text(encoding="utf-8"), name
    # The page, chart library included: small enough for a settings page on a slow line.
    assert gzip_size("admin-analytics.js", "admin-analytics.css") <= 40 * KB

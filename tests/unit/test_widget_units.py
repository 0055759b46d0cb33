"""The widget's TypeScript unit tests (widget/test/*.test.ts, node's own test runner on
esbuild bundles): the code of the browser apps that needs no DOM."""

import shutil
import subprocess
from pathlib import Path

import pytest

WIDGET = Path(__file__).parents[2] / "widget"


def test_the_widget_unit_tests_pass() -> None:
    npm = shutil.which("npm")
    if npm is None or not (WIDGET / "node_modules" / "esbuild").exists():
        pytest.fail("node and the widget's packages are needed: run `make build`")
    run = subprocess.run(
        [npm, "--prefix", str(WIDGET), "run", "--silent", "test"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr

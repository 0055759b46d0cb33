"""Two real ``porchlight serve`` processes on one PostgreSQL database and one Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster import running_cluster

pytestmark = pytest.mark.postgres


async def test_two_nodes_started_at_once_on_a_new_database_both_come_up(tmp_path: Path) -> None:
    """Both nodes migrate the same empty database at start-up (a deployment starts its
    nodes together); a few fresh databases, since a race does not lose every time."""
    for attempt in range(3):
        directory = tmp_path / str(attempt)
        directory.mkdir()
        async with running_cluster(directory) as cluster:
            await cluster.start("first", "second")

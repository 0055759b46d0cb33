from collections.abc import AsyncIterator

import pytest

from tests.support import Server, settings_for


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "settings(**values): server settings for this test")


@pytest.fixture
async def server(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    """The real app on a free port with one site (allowed origin http://shop.test)."""
    marker = request.node.get_closest_marker("settings")
    running = Server(settings_for(database_url, **(marker.kwargs if marker else {})))
    await running.start()
    await running.add_site()
    yield running
    await running.stop()

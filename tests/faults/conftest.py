"""The fault suite's own PostgreSQL and Redis (restarting the shared ones is not allowed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.faults.servers import OwnServers


@pytest.fixture(scope="session")
def own_servers() -> Iterator[OwnServers]:
    servers = OwnServers()
    try:
        yield servers
    finally:
        servers.close()

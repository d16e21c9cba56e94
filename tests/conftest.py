"""Fixtures: a real Townhall server process on loopback, and signed-in API clients
(the helpers behind them are townhall.testing.servers, shared with benchmarks/)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from townhall.testing.servers import (CLIENT_LIMITS, MANY_SIGNUPS, Server, signed_in_client,
                                      start_server, stop_server)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `townhall demo` process for the session: a live demo Space plus the API."""
    srv = start_server(tmp_path_factory.mktemp("townhall"), extra_env=MANY_SIGNUPS)
    yield srv
    stop_server(srv)
    # A server error anywhere in the session is a failure, even if no test saw it.
    assert "Traceback" not in srv.log(), srv.log()[-5000:]


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    """An anonymous API client."""
    with httpx.Client(base_url=server.base_url, timeout=20, limits=CLIENT_LIMITS) as client:
        yield client


@pytest.fixture
def host(server: Server) -> Iterator[httpx.Client]:
    client = signed_in_client(server.base_url, "host")
    yield client
    client.close()

"""The cluster behind the edge, shared by the failover tests (Python clients in
tests/system/test_failover.py, a real browser in tests/system/test_browser_cluster.py): Redis +
PostgreSQL + two `townhall serve` origins + the nginx edge, all on loopback."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from townhall.testing.services import postgres_server, redis_server
from townhall.testing.servers import free_port, start_server, stop_server
from tests.system.test_cluster import Cluster
from townhall.testing.edge import NginxEdge


@pytest.fixture
def cluster_behind_edge(tmp_path: Path) -> Iterator[tuple[Cluster, NginxEdge]]:
    with redis_server() as redis_url, postgres_server() as database_url:
        cluster = Cluster(redis_url, database_url, tmp_path / "recordings", [])
        # The origins publish the listener streams to the edge, as a deployment's do.
        edge_port = free_port()
        env = {**cluster.env(), "TOWNHALL_STREAM_EDGES": f"http://127.0.0.1:{edge_port}"}
        try:
            for name in ("a", "b"):
                (tmp_path / name).mkdir()
                cluster.origins.append(start_server(tmp_path / name, command="serve",
                                                    extra_env=env))
            origins = [o.base_url.removeprefix("http://") for o in cluster.origins]
            with NginxEdge(origins, tmp_path / "edge", port=edge_port) as edge:
                yield cluster, edge
        finally:  # also when the edge or an origin did not start: no origin left running
            for origin in cluster.origins:
                stop_server(origin)
        # The survivors (a test SIGKILLs the origin mixing its Space, whichever it is).
        for origin in cluster.origins:
            if origin.process.returncode != -signal.SIGKILL:
                assert "Traceback" not in origin.log(), origin.log()[-5000:]

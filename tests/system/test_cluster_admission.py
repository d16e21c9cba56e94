"""Admission by capacity across a cluster (real Redis, PostgreSQL and two origins): a
node that cannot mix one more Space hands the go-live to the node with room, which
decides and mixes it (its speaker, knocking on the full node, is heard on air); when no
node has room the answer is 503 node_full and nothing is decided; a handed-over request
is never handed on again."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from townhall import limits
from townhall.domain.capacity import NODE_FULL, cost_of
from townhall.http.common.forward import FORWARDED_HEADER
from townhall.testing.services import postgres_server, redis_server
from townhall.testing.servers import live_space, signed_in_client, stage, start_server, stop_server
from townhall.testing.waiting import wait_until
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine
from tests.system.test_cluster import Cluster, read_tone

# Each origin mixes one Space with one speaker, no more.
ONE_SPACE_ONE_SPEAKER = cost_of(spaces=1, speakers=1)


@pytest.fixture(scope="module")
def small_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with redis_server() as redis_url, postgres_server() as database_url:
        tmp = tmp_path_factory.mktemp("small-cluster")
        cluster = Cluster(redis_url, database_url, tmp / "recordings", [])
        env = {**cluster.env(), "TOWNHALL_MIX_BUDGET": str(ONE_SPACE_ONE_SPEAKER)}
        try:
            for name in ("a", "b"):
                (tmp / name).mkdir()
                cluster.origins.append(start_server(tmp / name, command="serve", extra_env=env))
        except BaseException:
            for origin in cluster.origins:
                stop_server(origin)
            raise
        yield cluster
        for origin in cluster.origins:
            stop_server(origin)
        for origin in cluster.origins:
            assert "Traceback" not in origin.log(), origin.log()[-5000:]


def free_room(cluster: Cluster, origin_url: str) -> float:
    """What `origin_url` last reported to the others as its free mixing room."""
    with redis.Redis.from_url(cluster.redis_url) as client:
        value = client.get(f"townhall:room:{origin_url}")
    return float(value) if value is not None else -1.0


def mixes_here(origin_url: str) -> int:
    return httpx.get(f"{origin_url}/healthz").json()["live_spaces"]


def assert_node_full(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == NODE_FULL
    assert response.headers["Retry-After"] == str(limits.NODE_FULL_RETRY_AFTER)


async def test_a_full_node_hands_a_go_live_to_the_node_with_room(small_cluster: Cluster) -> None:
    a, b = small_cluster.origins
    wait_until(lambda: free_room(small_cluster, b.base_url) >= ONE_SPACE_ONE_SPEAKER,
               "b to report its room", timeout=10)
    first = signed_in_client(a.base_url, "first")
    on_a = live_space(first, "On a")["id"]  # a's room is taken
    assert mixes_here(a.base_url) == 1

    # A second host asks a, which is full: b decides and mixes it.
    second = signed_in_client(a.base_url, "second")
    space = second.post("/api/spaces", json={"title": "Handed to b"}).json()["id"]
    handed = second.post(f"/api/spaces/{space}/live")
    assert handed.status_code == 200, handed.text
    assert handed.json()["state"] == "live"
    assert (mixes_here(a.base_url), mixes_here(b.base_url)) == (1, 1)
    # Its speaker knocks on a too (a passes WHIP on to the owner) and is heard on air.
    creds = stage(second, space)
    speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(660)))
    await speaker.start()
    try:
        frequency, _ = await read_tone(f"{a.base_url}/hls/{space}/live.m3u8", 3.0)
        assert abs(frequency - 660) <= 5, frequency

        # A third Space fits nowhere: 503 node_full from either node, nothing decided.
        third = signed_in_client(a.base_url, "third")
        waiting = third.post("/api/spaces", json={"title": "Waits its turn"}).json()["id"]
        wait_until(lambda: free_room(small_cluster, b.base_url) < ONE_SPACE_ONE_SPEAKER,
                   "b to report it is full", timeout=10)
        assert_node_full(third.post(f"/api/spaces/{waiting}/live"))
        with httpx.Client(base_url=b.base_url, cookies=third.cookies, timeout=20,
                          headers={"Origin": b.base_url}) as via_b:
            assert_node_full(via_b.post(f"/api/spaces/{waiting}/live"))
        assert third.get(f"/api/spaces/{waiting}").json()["state"] == "scheduled"
    finally:
        await speaker.stop()

    # b has room again once its Space ends.
    assert second.post(f"/api/spaces/{space}/end").status_code == 200
    wait_until(lambda: free_room(small_cluster, b.base_url) >= ONE_SPACE_ONE_SPEAKER,
               "b to report its room again", timeout=10)
    # A request one node already handed on is not handed on again (no ping-pong
    # between full nodes): a answers it itself.
    assert_node_full(third.post(f"/api/spaces/{waiting}/live", headers={FORWARDED_HEADER: "1"}))
    assert third.get(f"/api/spaces/{waiting}").json()["state"] == "scheduled"
    live = third.post(f"/api/spaces/{waiting}/live")
    assert live.status_code == 200, live.text
    assert (mixes_here(a.base_url), mixes_here(b.base_url)) == (1, 1)
    for host, space_id in ((first, on_a), (third, waiting)):
        assert host.post(f"/api/spaces/{space_id}/end").status_code == 200

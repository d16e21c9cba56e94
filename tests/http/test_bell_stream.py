"""The bell's event stream (GET /api/me/events): the unread count at once, then again
when a followed host goes live and when the notifications are read in another tab;
signed-out visitors are told to sign in."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator

import httpx
import pytest

from townhall.testing.servers import Server, live_space, signed_in_client

WAIT = 15.0


def counts(client: httpx.Client, stop: threading.Event, into: queue.Queue[int]) -> None:
    """Read the stream's `unread` events into a queue (in a thread) until told to stop."""
    with client.stream("GET", "/api/me/events", timeout=httpx.Timeout(5, read=None)) as response:
        assert response.status_code == 200
        event = None
        for line in response.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "unread":
                into.put(json.loads(line.split(":", 1)[1])["unread"])


@pytest.fixture
def pair(server: Server) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    clients = [signed_in_client(server.base_url, p) for p in ("bellhost", "bellfan")]
    yield clients[0], clients[1]
    for c in clients:
        c.close()


def test_the_count_is_pushed_when_it_changes(server: Server, pair) -> None:  # type: ignore[no-untyped-def]
    host, fan = pair
    name = host.get("/api/me").json()["username"]
    assert fan.post(f"/api/users/{name}/follow").status_code == 200
    got: queue.Queue[int] = queue.Queue()
    stop = threading.Event()
    tab = httpx.Client(base_url=server.base_url, cookies=fan.cookies)
    reader = threading.Thread(target=counts, args=(tab, stop, got), daemon=True)
    reader.start()
    try:
        assert got.get(timeout=WAIT) == 0  # at once
        live_space(host, "Pushed to the bell")
        assert got.get(timeout=WAIT) == 1
        # Read in "another tab": this one hears the count drop.
        assert fan.post("/api/me/notifications/read", json={}).json()["unread"] == 0
        assert got.get(timeout=WAIT) == 0
    finally:
        stop.set()
        live_space(host, "Wakes the reader so it sees stop")
        reader.join(WAIT)
        tab.close()


def test_signed_out_visitors_get_no_stream(server: Server) -> None:
    response = httpx.get(f"{server.base_url}/api/me/events")
    assert response.status_code == 401 and response.json()["code"] == "sign_in_required"

"""Per-client limits on signing up and signing in, with the documented defaults."""

from __future__ import annotations

import math
import time
from pathlib import Path

import httpx
import pytest

from townhall.testing.servers import Server, live_space, signed_in_client, stage, start_server, stop_server
from townhall import limits
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine


def test_signup_and_signin_are_rate_limited_per_client(tmp_path: Path) -> None:
    server = start_server(tmp_path, command="serve")  # default limits
    try:
        with httpx.Client(base_url=server.base_url, timeout=20) as client:
            codes = [client.post("/api/auth/signup", json={
                "username": f"flood{i}", "password": "correct horse"}).status_code
                for i in range(limits.SIGNUP_BURST + 2)]
            assert codes[: limits.SIGNUP_BURST] == [201] * limits.SIGNUP_BURST
            assert codes[limits.SIGNUP_BURST:] == [429, 429]

            # Guess until refused. Each guess hashes a password (slow on a busy machine), so
            # the bucket may refill meanwhile: the burst plus what the elapsed time earned.
            started = time.monotonic()
            guesses = []
            for i in range(limits.SIGNIN_BURST + 10):
                guesses.append(client.post("/api/auth/signin", json={
                    "username": "flood0", "password": f"guess{i:04d}"}))
                if guesses[-1].status_code != 401:
                    break
            earned = math.floor((time.monotonic() - started) * limits.SIGNINS_PER_SECOND)
            wrong = [r.status_code for r in guesses[:-1]]
            assert wrong == [401] * len(wrong)
            assert limits.SIGNIN_BURST <= len(wrong) <= limits.SIGNIN_BURST + earned, (len(wrong), earned)
            limited = guesses[-1]
            assert limited.status_code == 429
            assert int(limited.headers["retry-after"]) >= 1
            assert "sign-in attempts" in limited.json()["detail"]
            # Even the right password waits now: the limit is on attempts, not failures.
            right = client.post("/api/auth/signin", json={"username": "flood0", "password": "correct horse"})
            assert right.status_code == 429
    finally:
        stop_server(server)


def test_cross_site_writes_with_the_session_cookie_are_refused(server: Server) -> None:
    host = signed_in_client(server.base_url, "csrf")
    evil = host.post("/api/spaces", json={"title": "forged"}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and "cross-site" in evil.json()["detail"]
    same = host.post("/api/spaces", json={"title": "mine"}, headers={"Origin": server.base_url})
    assert same.status_code == 201
    assert host.post("/api/spaces", json={"title": "no origin (curl)"}).status_code == 201
    # Reading is never refused, and a sign-in rotates the session: a new cookie each time.
    assert host.get("/api/me", headers={"Origin": "http://evil.example"}).status_code == 200
    name = host.get("/api/me").json()["username"]
    before = host.cookies.get("townhall_session")
    host.post("/api/auth/signin", json={"username": name, "password": "correct horse"})
    assert host.cookies.get("townhall_session") not in (None, before)
    stale = httpx.get(f"{server.base_url}/api/me", cookies={"townhall_session": before})
    assert stale.status_code == 401  # the old session ended


async def test_one_person_speaks_in_at_most_two_spaces_at_once(server: Server) -> None:
    host = signed_in_client(server.base_url, "busy")
    spaces = [live_space(host, f"Busy {i}") for i in range(3)]
    publishers = []
    try:
        for space in spaces[:2]:
            creds = stage(host, space["id"])
            publisher = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(440)))
            await publisher.start()
            publishers.append(publisher)
        creds = stage(host, spaces[2]["id"])
        third = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(440)))
        with pytest.raises(RuntimeError, match="409.*at most 2 at once"):
            await third.start()
        # Leaving one Space makes room for the third.
        await publishers.pop().stop()
        await third.start()
        publishers.append(third)
    finally:
        for publisher in publishers:
            await publisher.stop()
        for space in spaces:
            host.post(f"/api/spaces/{space['id']}/end")


@pytest.mark.parametrize("trusted", [True, False])
def test_audience_beacons_are_limited_per_client_address(tmp_path: Path, trusted: bool) -> None:
    """A script forging beacons from one address adds at most LISTENERS_PER_ADDRESS
    listeners. Behind the edge, the address is the one in X-Forwarded-For, but only
    when the request comes from a trusted proxy."""
    env = {"TOWNHALL_LISTENERS_PER_ADDRESS": "3",
           "TOWNHALL_TRUSTED_PROXIES": "127.0.0.1" if trusted else "192.0.2.1"}
    server = start_server(tmp_path, command="demo", extra_env=env)
    try:
        beacon = f"{server.base_url}/api/spaces/demo/beacon"
        codes = [httpx.post(beacon, json={"session": f"forged-session-{i:04d}"}).status_code
                 for i in range(4)]
        assert codes == [204, 204, 204, 429]
        # Another listener, behind the same proxy (the edge) but at another address.
        other = httpx.post(beacon, json={"session": "real-listener-0001"},
                           headers={"X-Forwarded-For": "203.0.113.7"})
        assert other.status_code == (204 if trusted else 429)
        figures = httpx.get(f"{server.base_url}/api/spaces/demo/audience").json()
        assert figures["unique"] == (4 if trusted else 3)
    finally:
        stop_server(server)

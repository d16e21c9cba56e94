"""Per-client limits on signing up and signing in, with the documented defaults."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, live_space, signed_in_client, stage, start_server, stop_server
from townhall import limits
from townhall.clients.whip import SyntheticTrack, WhipPublisher, sine


def test_signup_and_signin_are_rate_limited_per_client(tmp_path: Path) -> None:
    server = start_server(tmp_path, command="serve")  # default limits
    try:
        with httpx.Client(base_url=server.base_url, timeout=20) as client:
            codes = [client.post("/api/auth/signup", json={
                "username": f"flood{i}", "password": "correct horse"}).status_code
                for i in range(limits.SIGNUP_BURST + 2)]
            assert codes[: limits.SIGNUP_BURST] == [201] * limits.SIGNUP_BURST
            assert codes[limits.SIGNUP_BURST:] == [429, 429]

            guesses = [client.post("/api/auth/signin", json={
                "username": "flood0", "password": f"guess{i:04d}"}) for i in range(limits.SIGNIN_BURST + 1)]
            assert [r.status_code for r in guesses[:-1]] == [401] * limits.SIGNIN_BURST
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

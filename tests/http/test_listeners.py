"""Who is listening now (GET /api/spaces/{id}/listeners), against the session's server.

Players' beacons say who plays: a signed-in player's beacon names its person, an
anonymous one is only counted. The roster lists signed-in listeners by face (the latest
first, at most limits.MAX_LISTED_LISTENERS), never a speaker, nor anyone removed or
blocked; each person comes with what the viewer may do to them. A private Space's roster
is for its members only, like the Space itself.
"""

from __future__ import annotations

import secrets

import httpx

from townhall import limits
from townhall.testing.servers import Server, live_space, signed_in_client


def _me(client: httpx.Client) -> dict:
    return client.get("/api/me").json()


def _beat(client: httpx.Client, space_id: str) -> None:
    response = client.post(f"/api/spaces/{space_id}/beacon",
                           json={"session": secrets.token_urlsafe(16)})
    assert response.status_code == 204, response.text


def _roster(client: httpx.Client, space_id: str) -> dict:
    response = client.get(f"/api/spaces/{space_id}/listeners")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    return response.json()


def test_the_roster_names_signed_in_listeners_and_counts_anonymous_ones(server: Server) -> None:
    host = signed_in_client(server.base_url, "rosterhost")
    space = live_space(host, "Who is here")
    sid = space["id"]
    fans = [signed_in_client(server.base_url, "fan") for _ in range(2)]
    with httpx.Client(base_url=server.base_url, timeout=20) as anonymous:
        assert _roster(anonymous, sid) == {"people": [], "anonymous": 0, "total": 0}
        for fan in fans:
            _beat(fan, sid)
        _beat(anonymous, sid)
        _beat(host, sid)  # the host playing the stream too: a speaker, not listed
        roster = _roster(anonymous, sid)
        ids = [p["id"] for p in roster["people"]]
        assert ids == [_me(fans[1])["id"], _me(fans[0])["id"]]  # the latest first
        assert roster["anonymous"] == 1 and roster["total"] == 4
        first = roster["people"][1]
        assert first["username"] == _me(fans[0])["username"]
        assert first["avatar_url"] and first["avatar_small_url"] and first["display_name"]
        # Nothing to do to anyone for an anonymous viewer, a listener, or oneself.
        assert all(p["can"] == [] for p in roster["people"])
        assert all(p["can"] == [] for p in _roster(fans[0], sid)["people"])
        # The host may invite them to speak, make them co-host, remove or block them.
        as_host = _roster(host, sid)["people"]
        assert {"invite", "add_cohost", "remove", "block"} <= set(as_host[0]["can"])
        assert "mute" not in as_host[0]["can"]  # not a speaker: nothing to mute

        # Removed and blocked people are never listed, even while their beacons last.
        assert host.post(f"/api/spaces/{sid}/remove",
                         json={"user_id": _me(fans[0])["id"]}).status_code == 200
        assert host.post(f"/api/spaces/{sid}/block",
                         json={"user_id": _me(fans[1])["id"]}).status_code == 200
        try:
            assert _roster(anonymous, sid)["people"] == []
            # And they may not look at it themselves.
            assert fans[1].get(f"/api/spaces/{sid}/listeners").status_code == 403
        finally:
            host.delete(f"/api/me/blocks/{_me(fans[1])['id']}")
        # Off air: nobody is listening.
        assert host.post(f"/api/spaces/{sid}/end").status_code == 200
        assert _roster(anonymous, sid) == {"people": [], "anonymous": 0, "total": 0}
    assert httpx.get(f"{server.base_url}/api/spaces/nosuchspace/listeners").status_code == 404


def test_the_roster_lists_at_most_the_cap_and_counts_the_rest(server: Server) -> None:
    host = signed_in_client(server.base_url, "caphost")
    sid = live_space(host, "A full room")["id"]
    extra = 3
    fans = [signed_in_client(server.base_url, "crowd")
            for _ in range(limits.MAX_LISTED_LISTENERS + extra)]
    for fan in fans:
        _beat(fan, sid)
    roster = _roster(host, sid)
    assert len(roster["people"]) == limits.MAX_LISTED_LISTENERS
    assert roster["total"] == limits.MAX_LISTED_LISTENERS + extra
    # The latest beacons first: the first few fans to arrive are the ones left out.
    latest = [_me(f)["id"] for f in reversed(fans)][:limits.MAX_LISTED_LISTENERS]
    assert [p["id"] for p in roster["people"]] == latest


def test_a_private_roster_is_for_its_members_only(server: Server) -> None:
    host = signed_in_client(server.base_url, "privhost")
    space = host.post("/api/spaces", json={"title": "Board room", "private": True}).json()
    sid = space["id"]
    assert host.post(f"/api/spaces/{sid}/live").status_code == 200
    guest, outsider = (signed_in_client(server.base_url, p) for p in ("member", "outside"))
    assert host.post(f"/api/spaces/{sid}/listeners/{_me(guest)['username']}").status_code == 200
    _beat(guest, sid)
    _beat(outsider, sid)  # a forged beacon: counted, but never named
    assert [p["id"] for p in _roster(guest, sid)["people"]] == [_me(guest)["id"]]
    assert [p["id"] for p in _roster(host, sid)["people"]] == [_me(guest)["id"]]
    refused = outsider.get(f"/api/spaces/{sid}/listeners")
    assert refused.status_code == 403 and refused.json()["code"] == "private", refused.text
    assert httpx.get(f"{server.base_url}/api/spaces/{sid}/listeners").status_code == 401

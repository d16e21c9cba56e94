"""The home feed (GET /api/home) and the lists' search (GET /api/spaces?q=), against a
server of this module's own (so what Discover ranks is only what these tests made).

Following holds only Spaces whose host you follow, and such a Space is never in
Discover; every Discover card says why it is there, with the numbers of the documented
formula (townhall/domain/discover.py); Discover can be turned off; private Spaces and
hosts who blocked you stay out of both."""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from townhall import limits
from townhall.testing.servers import (MANY_SIGNUPS, Server, invite_speaker, live_space,
                                      signed_in_client, start_server, stop_server)


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(Path(tmp_path_factory.mktemp("home")), command="serve",
                       extra_env=MANY_SIGNUPS)
    yield srv
    stop_server(srv)
    assert "Traceback" not in srv.log(), srv.log()[-5000:]


def _me(client: httpx.Client) -> dict:
    return client.get("/api/me").json()


def _follow(fan: httpx.Client, who: httpx.Client) -> None:
    response = fan.post(f"/api/users/{_me(who)['username']}/follow")
    assert response.status_code == 200, response.text


def _home(client: httpx.Client) -> dict:
    response = client.get("/api/home")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    return response.json()


def _ids(spaces: list[dict]) -> list[str]:
    return [s["id"] for s in spaces]


def _card(home: dict, space_id: str) -> dict | None:
    return next((c for c in home["discover"] if c["space"]["id"] == space_id), None)


def _scheduled(host: httpx.Client, title: str, hours: float, **fields: object) -> dict:
    start = (datetime.now(UTC) + timedelta(hours=hours)).isoformat()
    response = host.post("/api/spaces", json={"title": title, "scheduled_start": start,
                                              **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _beat(client: httpx.Client, space_id: str, **extra: object) -> None:
    response = client.post(f"/api/spaces/{space_id}/beacon",
                           json={"session": secrets.token_urlsafe(16), **extra})
    assert response.status_code == 204, response.text


def test_following_is_only_hosts_you_follow_and_they_are_never_in_discover(own: Server) -> None:
    fan, followed, stranger, speaker = (signed_in_client(own.base_url, p)
                                        for p in ("fan", "followed", "stranger", "voice"))
    _follow(fan, followed)
    _follow(fan, speaker)
    mine_live = live_space(followed, "Followed and live")
    mine_later = _scheduled(followed, "Followed and later", 2)
    theirs = live_space(stranger, "Not followed, a followed voice on stage")
    invite_speaker(stranger, speaker, theirs["id"])
    own_space = live_space(fan, "The fan's own")

    home = _home(fan)
    assert home["signed_in"] and home["discover_enabled"] and home["can"] == ["turn_off_discover"]
    assert _ids(home["following"]["live"]) == [mine_live["id"]]
    assert _ids(home["following"]["upcoming"]) == [mine_later["id"]]
    assert _ids(home["yours"]["live"]) == [own_space["id"]]
    discover = _ids([c["space"] for c in home["discover"]])
    # A followed speaker does not make a Space "Following": only its host does.
    assert theirs["id"] in discover
    assert not {mine_live["id"], mine_later["id"], own_space["id"]} & set(discover)
    assert "1 person you follow is speaking" in _card(home, theirs["id"])["reasons"]
    assert "log10" in home["formula"]

    # Signed out: no Following, everything public in Discover, each card with a reason.
    with httpx.Client(base_url=own.base_url) as anonymous:
        home = _home(anonymous)
    assert home["following"] is None and home["yours"] is None and home["can"] == []
    discover = _ids([c["space"] for c in home["discover"]])
    assert {mine_live["id"], mine_later["id"], theirs["id"], own_space["id"]} <= set(discover)
    assert all(card["reasons"] for card in home["discover"])
    assert _card(home, mine_later["id"])["reasons"] == ["Starts in 2 h"]


def test_every_card_says_why_with_the_formulas_numbers(own: Server) -> None:
    fan, host, first, second = (signed_in_client(own.base_url, p)
                                for p in ("reader", "stagehost", "voice", "voice"))
    for person in (first, second):
        _follow(fan, person)
        _follow(person, host)  # the host is followed by 2 people the fan follows
    space = live_space(host, "Two friends on stage")
    for person in (first, second):
        invite_speaker(host, person, space["id"])
    with httpx.Client(base_url=own.base_url) as anonymous:
        for _ in range(3):
            _beat(anonymous, space["id"])

    card = _card(_home(fan), space["id"])
    assert card["reasons"] == ["2 people you follow are speaking",
                               "Its host is followed by 2 people you follow",
                               "Live now", "3 listening now"]
    assert card["score"] == pytest.approx(3 * 2 + 2 * 2 + 1 + math.log10(1 + 3), abs=1e-3)
    # Nothing from a host the fan does not follow is in Following.
    assert space["id"] not in _ids(_home(fan)["following"]["live"])

    # Upcoming: reminders counted; a topic of a followed person's Spaces is a reason.
    topical = signed_in_client(own.base_url, "topical")
    _follow(fan, topical)
    _scheduled(topical, "Our usual", 30, topics=["Modular synths"])
    later = _scheduled(host, "Patch cables", 5, topics=["modular synths", "diy"])
    for _ in range(2):
        reminding = signed_in_client(own.base_url, "reminding")
        assert reminding.post(f"/api/spaces/{later['id']}/reminder").status_code == 204
    card = _card(_home(fan), later["id"])
    assert card["reasons"] == ["Its host is followed by 2 people you follow",
                               "People you follow talk about #modular synths",
                               "2 reminders set", "Starts in 5 h"], card
    assert card["score"] == pytest.approx(4 + 1 + math.log10(3) + 1 / 6, abs=1e-2)
    # The live Space with followed speakers ranks above it.
    order = _ids([c["space"] for c in _home(fan)["discover"]])
    assert order.index(space["id"]) < order.index(later["id"])


def test_discover_can_be_turned_off_and_on(own: Server) -> None:
    fan, followed, other = (signed_in_client(own.base_url, p) for p in ("quiet", "f", "o"))
    _follow(fan, followed)
    mine = live_space(followed, "Still in Following")
    live_space(other, "Somewhere else")
    assert _home(fan)["discover"]
    off = fan.patch("/api/me/settings", json={"discover": False})
    assert off.status_code == 200, off.text
    home = _home(fan)
    assert home["discover"] == [] and home["discover_enabled"] is False
    assert home["can"] == ["turn_on_discover"]
    assert _ids(home["following"]["live"]) == [mine["id"]]
    assert fan.patch("/api/me/settings", json={"discover": True}).status_code == 200
    assert _home(fan)["discover_enabled"] is True and _home(fan)["discover"]


def test_private_spaces_and_blocking_hosts_stay_out(own: Server) -> None:
    fan, guest, host = (signed_in_client(own.base_url, p) for p in ("outsider", "guest", "ph"))
    for person in (fan, guest):
        _follow(person, host)
    secret = host.post("/api/spaces", json={"title": "Board room", "private": True}).json()
    assert host.post(f"/api/spaces/{secret['id']}/live").status_code == 200
    assert host.post(f"/api/spaces/{secret['id']}/listeners/"
                     f"{_me(guest)['username']}").status_code == 200

    def everywhere(home: dict) -> set[str]:
        lists = [[c["space"] for c in home["discover"]]]
        for part in ("following", "yours"):
            if home[part]:
                lists += [home[part]["live"], home[part]["upcoming"]]
        return {s["id"] for found in lists for s in found}

    assert secret["id"] not in everywhere(_home(fan))
    assert secret["id"] in _ids(_home(guest)["following"]["live"])
    with httpx.Client(base_url=own.base_url) as anonymous:
        assert secret["id"] not in everywhere(_home(anonymous))

    # A host who blocked you: none of their Spaces anywhere on your home.
    blocker = signed_in_client(own.base_url, "blocker")
    first = live_space(blocker, "Where the block happens")
    second = live_space(blocker, "Another of theirs")
    assert second["id"] in everywhere(_home(fan))
    blocked = blocker.post(f"/api/spaces/{first['id']}/block", json={"user_id": _me(fan)["id"]})
    assert blocked.status_code == 200, blocked.text
    assert not {first["id"], second["id"]} & everywhere(_home(fan))


def test_the_lists_search_with_q(own: Server) -> None:
    host = signed_in_client(own.base_url, "searcher")
    word = f"zebra{secrets.token_hex(3)}"
    hit = live_space(host, f"All about {word} stripes")
    later = _scheduled(host, "Later", 3, topics=[word])
    miss = live_space(host, "Nothing to see")
    with httpx.Client(base_url=own.base_url) as anonymous:
        found = anonymous.get("/api/spaces", params={"q": word[:-2]}).json()  # a prefix
        assert _ids(found["live"]) == [hit["id"]]
        assert _ids(found["upcoming"]) == [later["id"]] and found["recent"] == []
        assert anonymous.get("/api/spaces", params={"q": f"{word} nosuchword"}).json()["live"] == []
        assert anonymous.get("/api/spaces", params={"q": '"*:-'}).json() == {
            "live": [], "upcoming": [], "recent": []}
        everything = anonymous.get("/api/spaces", params={"q": "  "}).json()
        assert {hit["id"], miss["id"]} <= set(_ids(everything["live"]))

        for q, words in (("x" * 10_000, f"at most {limits.MAX_SEARCH_QUERY_LENGTH} characters"),
                         (" ".join("abcdefghij"), f"at most {limits.MAX_SEARCH_WORDS} words")):
            refused = anonymous.get("/api/spaces", params={"q": q})
            assert refused.status_code == 422, refused.text
            assert words in refused.json()["fields"]["q"], refused.json()


def test_an_incognito_listener_is_counted_but_not_shown(own: Server) -> None:
    host, shy, open_ = (signed_in_client(own.base_url, p) for p in ("rh", "shy", "open"))
    space = live_space(host, "Who is here")
    _beat(shy, space["id"], incognito=True)
    _beat(open_, space["id"])
    roster = shy.get(f"/api/spaces/{space['id']}/listeners").json()
    assert [p["id"] for p in roster["people"]] == [_me(open_)["id"]]
    assert roster["total"] == 2 and roster["anonymous"] == 1
    wrong = shy.post(f"/api/spaces/{space['id']}/beacon",
                     json={"session": secrets.token_urlsafe(16), "incognito": "perhaps"})
    assert wrong.status_code == 422

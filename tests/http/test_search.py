"""GET /api/search against a running server: Spaces found by title, topics, description
and host, people by username and display name; private Spaces only for their members;
cancelled ones never; blocked people see none of their blocker's Spaces; the matched
words marked with everything else escaped; bad input answered 422 or with nothing,
never a 500; pages that never overlap."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from townhall import limits
from townhall.testing.servers import Server, signed_in_client


def word() -> str:
    """A word no other Space or person in the shared server has."""
    return f"w{uuid.uuid4().hex[:10]}"


@pytest.fixture
def person(server: Server) -> Iterator[httpx.Client]:
    client = signed_in_client(server.base_url, "seeker")
    yield client
    client.close()


def me(client: httpx.Client) -> dict:
    return client.get("/api/me").json()


def create(client: httpx.Client, **fields: object) -> dict:
    response = client.post("/api/spaces", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def found(client: httpx.Client, q: str, kind: str = "spaces", page: int = 1) -> dict:
    response = client.get("/api/search", params={"q": q, "kind": kind, "page": page})
    assert response.status_code == 200, response.text
    return response.json()


def space_ids(client: httpx.Client, q: str) -> list[str]:
    return [hit["space"]["id"] for hit in found(client, q)["spaces"]]


def test_spaces_are_found_by_title_topic_description_and_host(
        host: httpx.Client, api: httpx.Client) -> None:
    title, topic, described, name = word(), word(), word(), word()
    username = me(host)["username"]
    assert host.patch(f"/api/users/{username}",
                      json={"display_name": f"Host {name.title()}"}).status_code == 200
    space = create(host, title=f"All about {title}", topics=[topic],
                   description=f"We will talk about {described} and more.")
    for q in (title, topic, described, name, title[:6] + " " + name):
        assert space_ids(api, q) == [space["id"]], q
    hit = found(api, title)["spaces"][0]
    assert hit["space"]["title"] == f"All about {title}"
    assert hit["highlight"]["title"] == f"All about <mark>{title}</mark>"
    assert hit["space"]["host"]["avatar_small_url"]
    assert found(api, described)["spaces"][0]["highlight"]["snippet"] == (
        f"We will talk about <mark>{described}</mark> and more.")
    assert found(api, topic)["spaces"][0]["highlight"]["snippet"] == f"Topics: <mark>{topic}</mark>"
    assert found(api, name)["spaces"][0]["highlight"]["snippet"] == (
        f"Hosted by Host <mark>{name.title()}</mark> (@{username})")
    # Renamed: found by its new title only.
    renamed = word()
    assert host.patch(f"/api/spaces/{space['id']}", json={"title": renamed}).status_code == 200
    assert space_ids(api, renamed) == [space["id"]]
    assert space_ids(api, f"about {title}") == []


def test_user_text_is_escaped_around_the_marks(host: httpx.Client, api: httpx.Client) -> None:
    w = word()
    create(host, title=f'<img src=x onerror="alert(1)"> {w} & <b>', description=f"<i>{w}</i>")
    hit = found(api, w)["spaces"][0]
    assert hit["highlight"]["title"] == (
        f"&lt;img src=x onerror=&quot;alert(1)&quot;&gt; <mark>{w}</mark> &amp; &lt;b&gt;")
    assert hit["highlight"]["snippet"] == f"&lt;i&gt;<mark>{w}</mark>&lt;/i&gt;"


def test_people_by_username_and_display_name(server: Server, api: httpx.Client) -> None:
    prefix = f"p{uuid.uuid4().hex[:6]}"
    client = signed_in_client(server.base_url, prefix)
    try:
        username = me(client)["username"]
        name = word()
        client.patch(f"/api/users/{username}", json={"display_name": f"Dr {name}"})
        for q in (prefix, name):
            users = found(api, q, kind="users")["users"]
            assert [u["user"]["username"] for u in users] == [username], q
        hit = found(api, name, kind="users")["users"][0]
        assert hit["highlight"]["title"] == f"Dr <mark>{name}</mark>"
        assert hit["highlight"]["snippet"] == f"@{username}"
        assert hit["user"]["avatar_small_url"]
        assert found(api, name)["spaces"] == []  # no Space of theirs
    finally:
        client.close()


def test_a_private_space_only_for_its_members(server: Server, host: httpx.Client,
                                              person: httpx.Client, api: httpx.Client) -> None:
    w = word()
    space = create(host, title=f"Private {w}", private=True)
    guest = signed_in_client(server.base_url, "guest")
    try:
        added = host.post(f"/api/spaces/{space['id']}/listeners/{me(guest)['username']}")
        assert added.status_code == 200, added.text
        assert space_ids(api, w) == []  # anonymous
        assert space_ids(person, w) == []  # signed in, not invited
        assert space_ids(guest, w) == [space["id"]]
        assert space_ids(host, w) == [space["id"]]
        # Taken off the guest list: gone from their search too.
        host.delete(f"/api/spaces/{space['id']}/listeners/{me(guest)['username']}")
        assert space_ids(guest, w) == []
    finally:
        guest.close()


def test_cancelled_spaces_are_never_found(host: httpx.Client, api: httpx.Client) -> None:
    w = word()
    space = create(host, title=f"Cancelled {w}")
    assert space_ids(api, w) == [space["id"]]
    assert host.post(f"/api/spaces/{space['id']}/cancel").status_code == 200
    assert space_ids(api, w) == []
    assert space_ids(host, w) == []  # not even for its host


def test_someone_blocked_finds_none_of_the_hosts_spaces(host: httpx.Client,
                                                        person: httpx.Client) -> None:
    w = word()
    first = create(host, title=f"First {w}")
    second = create(host, title=f"Second {w}")
    assert set(space_ids(person, w)) == {first["id"], second["id"]}
    blocked = host.post(f"/api/spaces/{first['id']}/block", json={"user_id": me(person)["id"]})
    assert blocked.status_code == 200, blocked.text
    assert space_ids(person, w) == []


def test_someone_removed_no_longer_finds_that_space(host: httpx.Client,
                                                    person: httpx.Client,
                                                    api: httpx.Client) -> None:
    w = word()
    kept, left = create(host, title=f"Kept {w}"), create(host, title=f"Left {w}")
    removed = host.post(f"/api/spaces/{left['id']}/remove", json={"user_id": me(person)["id"]})
    assert removed.status_code == 200, removed.text
    assert space_ids(person, w) == [kept["id"]]  # the host's other Spaces stay
    assert set(space_ids(api, w)) == {kept["id"], left["id"]}


def test_live_before_upcoming_before_replays_for_equal_ranks(host: httpx.Client,
                                                             api: httpx.Client) -> None:
    w = word()
    upcoming = create(host, title=f"Same {w}")
    replay = create(host, title=f"Same {w}")
    live = create(host, title=f"Same {w}")
    assert host.post(f"/api/spaces/{replay['id']}/live").status_code == 200
    assert host.post(f"/api/spaces/{replay['id']}/end").status_code == 200
    assert host.post(f"/api/spaces/{live['id']}/live").status_code == 200
    try:
        hits = found(api, w)["spaces"]
        assert [h["space"]["id"] for h in hits] == [live["id"], upcoming["id"], replay["id"]]
        assert [h["space"]["state"] for h in hits] == ["live", "scheduled", "ended"]
    finally:
        host.post(f"/api/spaces/{live['id']}/end")


def test_pages(server: Server, api: httpx.Client) -> None:
    w = word()
    size = limits.SEARCH_PAGE_SIZE
    hosts = [signed_in_client(server.base_url, "pager") for _ in range(3)]
    try:
        made = {create(hosts[i % 3], title=f"{w} number {i}")["id"] for i in range(size + 5)}
    finally:
        for client in hosts:
            client.close()
    first, second = found(api, w), found(api, w, page=2)
    assert (first["page"], first["page_size"], first["next_page"]) == (1, size, 2)
    assert (len(first["spaces"]), len(second["spaces"]), second["next_page"]) == (size, 5, None)
    ids = [h["space"]["id"] for h in first["spaces"] + second["spaces"]]
    assert len(ids) == len(set(ids)) and set(ids) == made
    past = found(api, w, page=3)
    assert (past["spaces"], past["next_page"]) == ([], None)


@pytest.mark.parametrize(("params", "field", "words"), [
    ({"q": "x" * 10_000}, "q", f"at most {limits.MAX_SEARCH_QUERY_LENGTH} characters"),
    ({"q": "x" * (limits.MAX_SEARCH_QUERY_LENGTH + 1)}, "q", "at most"),
    ({"q": ""}, "q", "Type what you are looking for"),
    ({"q": "   "}, "q", "Type what you are looking for"),
    ({}, "q", "Type what you are looking for"),
    ({"q": " ".join("abcdefghij")}, "q", f"at most {limits.MAX_SEARCH_WORDS} words"),
    ({"q": "jazz", "page": 0}, "page", "at least 1"),
    ({"q": "jazz", "page": limits.MAX_SEARCH_PAGES + 1}, "page", "narrow"),
    ({"q": "jazz", "page": "two"}, "page", "whole number"),
    ({"q": "jazz", "kind": "rooms"}, "kind", "must be one of"),
])
def test_bad_input_is_refused_in_words(api: httpx.Client, params: dict, field: str,
                                       words: str) -> None:
    response = api.get("/api/search", params=params)
    assert response.status_code == 422, response.text
    assert words in response.json()["fields"][field]


@pytest.mark.parametrize("q", ['"', "*", "NEAR", "-", ":", "!!!", '"unclosed', "a*", "-x",
                               "title:x", "NEAR(a b)", "x OR y", "(", "a & b | !c", "'", "\\",
                               "%_", "\x00", "\u202e", "🎷", "ⅫⅩ", "a\u0301"])
def test_query_syntax_and_punctuation_find_nothing_or_plain_words(api: httpx.Client,
                                                                  q: str) -> None:
    for kind in ("spaces", "users"):
        body = found(api, q, kind=kind)
        assert body["words"] == [w for w in body["words"] if w.isalnum()]
        if not body["words"]:
            assert body[kind] == [] and body["next_page"] is None


def test_a_long_description_is_cut_around_its_first_match() -> None:
    from townhall.http.api.search import excerpt, marked

    before = " ".join(f"before{i}" for i in range(40))
    after = " ".join(f"after{i}" for i in range(40))
    text = f"{before} the <jazz> part {after}"
    snippet = excerpt(text, ["jazz"], limits.SEARCH_SNIPPET_LENGTH)
    assert snippet.startswith("…before") and snippet.endswith("…")
    assert "the &lt;<mark>jazz</mark>&gt; part" in snippet
    plain = snippet.replace("<mark>", "").replace("</mark>", "").strip("…")
    assert len(plain) <= limits.SEARCH_SNIPPET_LENGTH + len("&lt;&gt;")
    assert not plain.startswith(" ") and not plain.endswith(" ")
    assert excerpt("nothing here", ["jazz"], 50) == ""
    assert marked("Jazzy JAZZ ajazz", ["jazz"]) == "<mark>Jazzy</mark> <mark>JAZZ</mark> ajazz"


def test_a_spaces_final_transcript_finds_it_with_a_snippet(
        server: Server, host: httpx.Client, api: httpx.Client) -> None:
    """The final transcript's words (written as the final pass does, through the store)
    find the Space after those whose fields match, with the words marked in a snippet."""
    from townhall.store import search
    from townhall.store.db import Database

    said, titled = word(), word()
    quiet = create(host, title=f"Evening {titled}")
    loud = create(host, title=f"About {said}")
    db = Database(f"sqlite:///{server.data_dir / 'townhall.db'}")
    try:
        with db.session() as session:
            search.index_transcript(session, quiet["id"], f"we said <{said}> twice, {said}")
        body = found(api, said)
        assert [hit["space"]["id"] for hit in body["spaces"]] == [loud["id"], quiet["id"]]
        hit = body["spaces"][1]
        assert hit["rank"] < 0 < body["spaces"][0]["rank"]
        assert hit["highlight"]["transcript"] == (
            f"we said &lt;<mark>{said}</mark>&gt; twice, <mark>{said}</mark>")
        assert body["spaces"][0]["highlight"]["transcript"] == ""
        assert space_ids(api, f"{titled} {said}") == [quiet["id"]]
        with db.session() as session:
            search.forget_transcript(session, quiet["id"])
        assert space_ids(api, said) == [loud["id"]]
    finally:
        db.close()

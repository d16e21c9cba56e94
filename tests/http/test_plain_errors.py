"""Errors a person can cause come back in plain words, per input (`fields`), with the
machine `code` kept; people's browsers get HTML error pages, the JSON API keeps JSON."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from townhall import limits
from townhall.config import Settings
from townhall.http.application import create_app
from townhall.http.common import validation
from townhall.testing.servers import Server, live_space, signed_in_client

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
# pydantic's own wording, which must never reach a person.
RAW = ("String should", "Value error", "URL scheme", "Input should", "Field required", "loc")


def assert_plain(body: dict) -> None:
    assert body["code"] == "invalid_request", body
    for text in (body["detail"], *body["fields"].values()):
        assert not any(raw in text for raw in RAW), body
        assert text[0].isupper(), body


def test_empty_title_reads_plainly(host: httpx.Client) -> None:
    for title in ("", "   "):
        response = host.post("/api/spaces", json={"title": title})
        assert response.status_code == 422, response.text
        body = response.json()
        assert_plain(body)
        assert body["fields"] == {"title": "Give your Space a title."}
        assert body["detail"] == "Give your Space a title."
    missing = host.post("/api/spaces", json={}).json()
    assert missing["fields"] == {"title": "Give your Space a title."}


def test_long_topic_reads_plainly(host: httpx.Client) -> None:
    response = host.post("/api/spaces", json={"title": "Topics",
                                              "topics": ["ok", "x" * (limits.MAX_TOPIC_LENGTH + 1)]})
    assert response.status_code == 422
    body = response.json()
    assert_plain(body)
    expected = f"Each topic can be at most {limits.MAX_TOPIC_LENGTH} characters."
    assert body["fields"] == {"topics": expected}  # the input's name, not "topics.1"
    assert body["detail"] == expected


def test_several_fields_each_get_their_sentence(host: httpx.Client) -> None:
    body = host.post("/api/spaces", json={
        "title": "", "topics": ["a", "b", "c", "d"], "scheduled_start": "2020-01-01T00:00:00Z",
    }).json()
    assert_plain(body)
    assert body["fields"] == {
        "title": "Give your Space a title.",
        "topics": f"A Space can have at most {limits.MAX_TOPICS} topics.",
        "scheduled_start": "The start time is in the past: pick a later one.",
    }
    assert body["detail"] == " ".join(body["fields"].values())


def test_pinned_link_scheme_reads_plainly(server: Server) -> None:
    host = signed_in_client(server.base_url, "pinner")
    try:
        space = live_space(host, "Pin check")
        for url in ("ftp://example.com/file", "javascript:alert(1)", "example.com"):
            response = host.put(f"/api/spaces/{space['id']}/pinned", json={"url": url})
            assert response.status_code == 422, (url, response.text)
            body = response.json()
            assert_plain(body)
            assert set(body["fields"]) == {"url"}, body
            assert "Links must start with http:// or https://" in body["fields"]["url"], body
        pinned = host.put(f"/api/spaces/{space['id']}/pinned", json={"url": "https://example.com"})
        assert pinned.status_code == 200, pinned.text
    finally:
        host.post(f"/api/spaces/{space['id']}/end")
        host.close()


def test_sign_up_says_what_a_username_may_contain(api: httpx.Client) -> None:
    body = api.post("/api/auth/signup", json={"username": "no spaces!", "password": "long enough"}).json()
    assert_plain(body)
    assert body["fields"] == {
        "username": "A username can only contain letters, digits and underscores (_)."}
    short = api.post("/api/auth/signup", json={"username": "ab", "password": "x"}).json()
    assert short["fields"] == {
        "username": f"A username needs at least {limits.MIN_USERNAME_LENGTH} characters.",
        "password": f"A password needs at least {limits.MIN_PASSWORD_LENGTH} characters.",
    }


def test_a_refusal_about_one_input_names_it(server: Server, api: httpx.Client) -> None:
    """Not only 422s: a taken username is about the username input."""
    host = signed_in_client(server.base_url, "taken")
    try:
        name = host.get("/api/me").json()["username"]
        taken = api.post("/api/auth/signup", json={"username": name, "password": "long enough"})
        assert taken.status_code == 409
        assert taken.json() == {"code": "conflict", "detail": "That username is taken: pick another.",
                                "fields": {"username": "That username is taken: pick another."}}
    finally:
        host.close()


def test_not_json_is_about_the_request_not_a_field(host: httpx.Client) -> None:
    response = host.post("/api/spaces", content=b"{", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json() == {"code": "invalid_request", "fields": {},
                               "detail": "The request is not valid JSON."}


def test_no_error_type_falls_back_to_raw_text() -> None:
    """Any error pydantic may give (known or not) becomes a sentence naming the input."""
    name, text = validation.message({"type": "something_new", "loc": ("body", "user_id"),
                                     "msg": "Raw pydantic words", "ctx": {}})
    assert (name, text) == ("user_id", "The person is not valid.")
    # An input with no name of its own for people is named as it is.
    name, text = validation.message({"type": "string_too_long", "loc": ("query", "zq"),
                                     "msg": "String should have at most 3 characters",
                                     "ctx": {"max_length": 3}})
    assert (name, text) == ("zq", "zq can be at most 3 characters.")
    # The search box's input has one.
    name, text = validation.message({"type": "string_too_long", "loc": ("query", "q"),
                                     "msg": "String should have at most 3 characters",
                                     "ctx": {"max_length": 3}})
    assert (name, text) == ("q", "A search can be at most 3 characters.")


def test_a_browser_gets_an_html_404_and_the_api_json(api: httpx.Client) -> None:
    page = api.get("/nonsense", headers=HTML)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text and 'href="/"' in page.text
    assert "townhall.css" in page.text  # the site's own style (base.html)

    script = api.get("/nonsense")  # no Accept: text/html (curl, a script)
    assert script.status_code == 404
    assert script.json() == {"code": "not_found", "detail": "Not Found"}

    for accept in (HTML, {}):
        api_missing = api.get("/api/nonsense", headers=accept)
        assert api_missing.status_code == 404
        assert api_missing.headers["content-type"].startswith("application/json")
        assert api_missing.json()["code"] == "not_found"


def test_no_such_space_is_a_not_found_page(api: httpx.Client) -> None:
    for path in ("/s/doesnotexist", "/s/doesnotexist/analytics", "/s/doesnotexist/invite/abc"):
        page = api.get(path, headers=HTML)
        assert page.status_code == 404, path
        assert "No such Space" in page.text, path
        assert "Loading…" not in page.text, path
    assert api.get("/api/spaces/doesnotexist", headers=HTML).json()["code"] == "not_found"


def test_a_browser_gets_an_html_500_and_a_client_json(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))

    @app.get("/boom")
    @app.get("/api/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    client = TestClient(app, raise_server_exceptions=False)  # no lifespan: no services
    page = client.get("/boom", headers=HTML)
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in page.text and "a bug" not in page.text
    api = client.get("/api/boom", headers=HTML)
    assert api.status_code == 500
    assert api.json() == {"code": "internal_error",
                          "detail": "Something went wrong on the server. Try again."}


@pytest.mark.parametrize("path", ["/signup", "/signin"])
def test_sign_up_page_shows_the_username_rule(api: httpx.Client, path: str) -> None:
    page = api.get(path).text
    hint = (f"{limits.MIN_USERNAME_LENGTH}–{limits.MAX_USERNAME_LENGTH} letters, digits "
            "or underscores (_)")
    assert (hint in page) == (path == "/signup"), page

"""Settings over HTTP: Discover on and off, an email address (checked, unconfirmed until
its owner follows the link), and which kinds of notification reach you where — a kind
turned off in the app is not written for you, another kind still is; refusals in words."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from townhall.testing.servers import Server, live_space, signed_in_client
from townhall.testing.waiting import wait_until


@pytest.fixture
def pair(server: Server) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    clients = [signed_in_client(server.base_url, p) for p in ("sethost", "setfan")]
    yield clients[0], clients[1]
    for c in clients:
        c.close()


def settings(client: httpx.Client) -> dict:
    response = client.get("/api/me/settings")
    assert response.status_code == 200, response.text
    return response.json()


def patch(client: httpx.Client, body: dict) -> httpx.Response:
    return client.patch("/api/me/settings", json=body)


def test_defaults_name_every_kind_and_channel(pair) -> None:  # type: ignore[no-untyped-def]
    _, fan = pair
    got = settings(fan)
    assert got["discover"] is True and got["email"] is None and not got["email_confirmed"]
    kinds = [k["id"] for k in got["kinds"]]
    assert kinds == ["live", "scheduled", "reminder", "invited"]
    assert [c["id"] for c in got["channels"]] == ["app", "email", "push"]
    assert all(got["notifications"][k] == {"app": True, "email": True, "push": True}
               for k in kinds)
    assert all(k["label"] for k in got["kinds"])  # the page shows the server's words


def test_signed_out_is_told_to_sign_in(server: Server) -> None:
    response = httpx.get(f"{server.base_url}/api/me/settings")
    assert response.status_code == 401
    assert response.json()["code"] == "sign_in_required"


def test_discover_and_email_are_kept(pair) -> None:  # type: ignore[no-untyped-def]
    _, fan = pair
    response = patch(fan, {"discover": False, "email": "  fan@example.org "})
    assert response.status_code == 200, response.text
    assert (response.json()["discover"], response.json()["email"]) == (False, "fan@example.org")
    assert response.json()["email_confirmed"] is False  # until its owner follows the link
    assert settings(fan)["discover"] is False
    assert patch(fan, {"email": ""}).json()["email"] is None


@pytest.mark.parametrize("body, field", [
    ({"email": "not an address"}, "email"),
    ({"email": "a@b"}, "email"),
    ({"email": "x" * 250 + "@example.org"}, "email"),
    ({"notifications": {"gossip": {"app": False}}}, "notifications"),
    ({"notifications": {"live": {"pigeon": False}}}, "notifications"),
    ({"notifications": {"live": {"app": "sometimes"}}}, "notifications"),
    ({"discover": "maybe"}, "discover"),
    ({"colour": "red"}, "colour"),
])
def test_bad_settings_are_refused_in_words(pair, body: dict, field: str) -> None:  # type: ignore[no-untyped-def]
    _, fan = pair
    response = patch(fan, body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "invalid_request"
    assert any(name.startswith(field) for name in error["fields"]), error
    assert settings(fan)["discover"] is True  # nothing was half-applied


def test_a_kind_turned_off_in_the_app_is_not_written(pair) -> None:  # type: ignore[no-untyped-def]
    host, fan = pair
    name = host.get("/api/me").json()["username"]
    assert fan.post(f"/api/users/{name}/follow").status_code == 200
    off = patch(fan, {"notifications": {"live": {"app": False}}})
    assert off.json()["notifications"]["live"] == {"app": False, "email": True, "push": True}
    assert off.json()["notifications"]["scheduled"]["app"] is True
    def schedule(title: str) -> str:
        start = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
        made = host.post("/api/spaces", json={"title": title, "scheduled_start": start})
        assert made.status_code == 201, made.text
        return made.json()["id"]

    planned = schedule("Planned talk")
    live = live_space(host, "Going live now")

    def kinds() -> list[tuple[str, str | None]]:
        rows = fan.get("/api/me/notifications").json()["notifications"]
        return [(n["kind"], n["space_id"]) for n in rows]

    # The scheduled one arrives; the live one, queued after it, is never written.
    wait_until(lambda: ("scheduled", planned) in kinds(), "scheduled", timeout=10)
    later = schedule("A later plan")
    wait_until(lambda: ("scheduled", later) in kinds(), "the next scheduled one", timeout=10)
    assert len(kinds()) == 2
    assert ("live", live["id"]) not in kinds()
    # Turned back on: the next one is written.
    assert patch(fan, {"notifications": {"live": {"app": True}}}).json()[
        "notifications"]["live"]["app"] is True


def test_new_addresses_are_rate_limited(pair) -> None:  # type: ignore[no-untyped-def]
    """Each new address is mailed a confirmation link: a fourth one in a row is refused,
    so nobody can mail a stranger's inbox again and again through Townhall."""
    _, fan = pair
    for n in range(3):
        assert patch(fan, {"email": f"typo{n}@example.org"}).status_code == 200
    refused = patch(fan, {"email": "stranger@example.org"})
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "rate_limited" and "confirmation emails" in refused.json()["detail"]
    assert settings(fan)["email"] == "typo2@example.org"  # nothing changed
    assert patch(fan, {"discover": False}).status_code == 200  # other settings still save

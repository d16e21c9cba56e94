"""The authorization matrix: every per-Space API endpoint called as every role.

PERMISSIONS (townhall/domain/permissions.py) is the one table of who may do what, and
`allowed(action, private)` what it means in a private Space. Each endpoint below names
the action it needs (and whether its Space is private); the matrix test calls it as each actor in a
fresh Space where everyone already has their role, so the only reason to refuse is the
role: an actor the table allows gets the endpoint's 2xx, anyone else 401 (anonymous) or
403 (signed in), with a "detail" message. A route that is neither in ENDPOINTS nor in
NOT_IN_MATRIX fails test_every_route_is_classified, so no new endpoint skips the matrix.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from townhall.testing.servers import Server, signed_in_client
from townhall.http.application import create_app
from townhall.domain.permissions import PERMISSIONS, Actor, allowed

# Who calls, and what they are to the Space under test as far as the table goes.
ACTORS: dict[str, Actor] = {
    "anonymous": Actor.ANONYMOUS,
    "listener": Actor.LISTENER,  # signed in, no role in this Space
    "guest": Actor.GUEST,  # signed in, no role, on this Space's guest list
    "speaker": Actor.SPEAKER,
    "cohost": Actor.COHOST,
    "host": Actor.HOST,
    "removed": Actor.REMOVED,  # removed from this Space by its host (POST /remove)
    "blocked": Actor.REMOVED,  # blocked by this host in another of their Spaces
    "other_host": Actor.LISTENER,  # hosts a Space of their own; a listener here
}
# Users who never act but are acted on; each has one job so no test disturbs another.
EXTRAS = ("cohost2", "speaker2", "guest2", "target", "victim")
# Hands are rate-limited per user (4 in a burst): approve/decline take turns among these.
RAISERS = 6
SIGNED_IN = frozenset(a for a in Actor if a not in (Actor.ANONYMOUS, Actor.REMOVED))
AUDIENCE = frozenset({Actor.LISTENER, Actor.GUEST})
ON_STAGE = frozenset({Actor.SPEAKER, Actor.COHOST, Actor.HOST})

Ctx = dict[str, Any]  # user ids by name, plus "code" (an invite code) where made


@dataclass(frozen=True)
class Endpoint:
    """One API endpoint and the PERMISSIONS action it needs."""

    id: str
    method: str
    path: str  # the route's own template; {space_id} is the fresh Space
    action: str
    body: Callable[[Ctx, int], dict[str, Any]] | None = None  # (ctx, my user id) -> JSON
    params: Callable[[Ctx], dict[str, Any]] = lambda ctx: {}  # other path parameters
    ok: int = 200  # the status when allowed
    scheduled: bool = False  # needs a Space that has not started (else a live one)
    needs: tuple[str, ...] = ()  # extra state in the fresh Space (see cast_roles)
    # Per-actor state that lets an allowed actor succeed (e.g. a raised hand to lower).
    prepare: Callable[[Cast, str, str], None] | None = None
    stream: bool = False  # Server-Sent Events: read the status and headers only
    # Allowed actors for whom no Space state makes the request a 2xx (see the comment
    # where it is used): they get 409, and only they.
    conflict: frozenset[str] = frozenset()
    private: bool = False  # in a private Space (permissions.allowed(action, private=True))


# -- per-actor preparations ------------------------------------------------------------
def _raise_own_hand(cast: Cast, space_id: str, actor: str) -> None:
    if ACTORS[actor] in AUDIENCE:
        cast.ok(cast.clients[actor].post(f"/api/spaces/{space_id}/hand"))


def _be_invited(cast: Cast, space_id: str, actor: str) -> None:
    if ACTORS[actor] in AUDIENCE:
        username = cast.names[actor]
        cast.ok(cast.host.post(f"/api/spaces/{space_id}/speakers", json={"username": username}))


def _mute_self(cast: Cast, space_id: str, actor: str) -> None:
    if ACTORS[actor] in ON_STAGE:
        me = cast.ids[actor]
        cast.ok(cast.clients[actor].post(f"/api/spaces/{space_id}/mute", json={"user_id": me}))


def _set_reminder(cast: Cast, space_id: str, actor: str) -> None:
    if ACTORS[actor] in SIGNED_IN:
        cast.ok(cast.clients[actor].post(f"/api/spaces/{space_id}/reminder"))


SPACE = "/api/spaces/{space_id}"

ENDPOINTS: tuple[Endpoint, ...] = (
    # -- the Space itself (spaces.py) ---------------------------------------------------
    Endpoint("view", "GET", SPACE, "view"),
    Endpoint("edit", "PATCH", SPACE, "edit", body=lambda ctx, me: {"title": "Renamed"}),
    Endpoint("go_live", "POST", f"{SPACE}/live", "go_live", scheduled=True),
    Endpoint("end", "POST", f"{SPACE}/end", "end"),
    Endpoint("cancel", "POST", f"{SPACE}/cancel", "cancel", scheduled=True),
    Endpoint("publish", "POST", f"{SPACE}/stage", "publish"),
    # -- requests to speak (moderation.py) ----------------------------------------------
    Endpoint("raise_hand", "POST", f"{SPACE}/hand", "raise_hand"),
    Endpoint("lower_hand", "DELETE", f"{SPACE}/hand", "lower_hand", prepare=_raise_own_hand),
    Endpoint("approve_hand", "POST", f"{SPACE}/hands/{{user_id}}/approve", "approve_hand",
             params=lambda ctx: {"user_id": ctx["raiser"]}, needs=("raiser",)),
    Endpoint("decline_hand", "POST", f"{SPACE}/hands/{{user_id}}/decline", "decline_hand",
             params=lambda ctx: {"user_id": ctx["raiser"]}, needs=("raiser",)),
    # -- invitations ----------------------------------------------------------------------
    Endpoint("invite", "POST", f"{SPACE}/invites", "invite", ok=201),
    Endpoint("accept_invite", "POST", f"{SPACE}/invites/{{code}}/accept", "accept_invite",
             params=lambda ctx: {"code": ctx["code"]}, needs=("invite_link",)),
    Endpoint("invite_user", "POST", f"{SPACE}/speakers", "invite",
             body=lambda ctx, me: {"username": ctx["names"]["target"]}),
    Endpoint("accept_invitation", "POST", f"{SPACE}/invitation/accept", "accept_invite",
             prepare=_be_invited),
    Endpoint("step_down", "POST", f"{SPACE}/step-down", "step_down"),
    # -- co-hosts -------------------------------------------------------------------------
    Endpoint("add_cohost", "POST", f"{SPACE}/cohosts", "add_cohost",
             body=lambda ctx, me: {"user_id": ctx["target"]}),
    Endpoint("remove_cohost", "DELETE", f"{SPACE}/cohosts/{{user_id}}", "remove_cohost",
             params=lambda ctx: {"user_id": ctx["cohost2"]}, needs=("cohost2",)),
    # -- mutes ----------------------------------------------------------------------------
    Endpoint("mute_other", "POST", f"{SPACE}/mute", "mute_other",
             body=lambda ctx, me: {"user_id": ctx["speaker2"]}, needs=("speaker2",)),
    Endpoint("mute_self", "POST", f"{SPACE}/mute", "mute_self",
             body=lambda ctx, me: {"user_id": me}),
    Endpoint("unmute_self", "POST", f"{SPACE}/unmute", "unmute_self",
             body=lambda ctx, me: {"user_id": me}, prepare=_mute_self),
    Endpoint("mute_all", "POST", f"{SPACE}/mute-all", "mute_all"),
    # -- removal and blocks ---------------------------------------------------------------
    Endpoint("remove", "POST", f"{SPACE}/remove", "remove",
             body=lambda ctx, me: {"user_id": ctx["target"]}),
    # The victim's block is lifted again after the test (blocks outlive the Space).
    Endpoint("block", "POST", f"{SPACE}/block", "block",
             body=lambda ctx, me: {"user_id": ctx["victim"]}),
    # -- live events, reactions, the pinned link, reminders (live.py) ---------------------
    Endpoint("view_events", "GET", f"{SPACE}/events", "view", stream=True),
    Endpoint("react", "POST", f"{SPACE}/reactions", "react", ok=202,
             body=lambda ctx, me: {"emoji": "👏"}),
    Endpoint("pin_link", "PUT", f"{SPACE}/pinned", "pin_link",
             body=lambda ctx, me: {"url": "https://example.com/agenda"}),
    Endpoint("unpin_link", "DELETE", f"{SPACE}/pinned", "pin_link", needs=("pinned",)),
    Endpoint("remind", "POST", f"{SPACE}/reminder", "remind", ok=204, scheduled=True),
    # Forgetting a reminder has no action of its own in the table: it is the other half
    # of "remind", for the same people.
    Endpoint("forget_reminder", "DELETE", f"{SPACE}/reminder", "remind", ok=204,
             scheduled=True, prepare=_set_reminder),
    # The .ics download shows the Space's title, description and time: "view".
    Endpoint("view_calendar", "GET", f"{SPACE}/calendar.ics", "view"),
    # Who is listening now (audience.py): whoever may view the Space may see its roster.
    Endpoint("view_listeners", "GET", f"{SPACE}/listeners", "view"),
    # Audience figures: whoever may view the Space checks them (a private one's only
    # its members: the figures say it exists and how many listen).
    Endpoint("view_audience", "GET", f"{SPACE}/audience", "view"),
    Endpoint("private_view_audience", "GET", f"{SPACE}/audience", "view", private=True),
    Endpoint("view_timeline", "GET", f"{SPACE}/timeline", "view"),
    # Live captions (captions.py): whoever may view the Space sees whether they run; the
    # host and co-hosts switch them.
    Endpoint("view_captions", "GET", f"{SPACE}/captions", "view"),
    Endpoint("private_view_captions", "GET", f"{SPACE}/captions", "view", private=True),
    Endpoint("captions", "PUT", f"{SPACE}/captions", "captions",
             body=lambda ctx, me: {"on": False}),
    Endpoint("private_view_timeline", "GET", f"{SPACE}/timeline", "view", private=True),
    # -- private Spaces (private.py) ----------------------------------------------------
    Endpoint("playback", "GET", f"{SPACE}/playback", "listen"),
    Endpoint("add_listener", "POST", f"{SPACE}/listeners/{{username}}", "manage_listeners",
             params=lambda ctx: {"username": ctx["names"]["target"]}),
    Endpoint("remove_listener", "DELETE", f"{SPACE}/listeners/{{username}}", "manage_listeners",
             params=lambda ctx: {"username": ctx["names"]["guest2"]}, needs=("guest2",)),
    # The same endpoints in a private Space: members only (outsiders may still follow
    # an invite link to speak).
    Endpoint("private_view", "GET", SPACE, "view", private=True),
    Endpoint("private_playback", "GET", f"{SPACE}/playback", "listen", private=True),
    Endpoint("private_view_events", "GET", f"{SPACE}/events", "view", stream=True, private=True),
    Endpoint("private_view_calendar", "GET", f"{SPACE}/calendar.ics", "view", private=True),
    Endpoint("private_view_listeners", "GET", f"{SPACE}/listeners", "view", private=True),
    Endpoint("private_react", "POST", f"{SPACE}/reactions", "react", ok=202, private=True,
             body=lambda ctx, me: {"emoji": "👏"}),
    Endpoint("private_raise_hand", "POST", f"{SPACE}/hand", "raise_hand", private=True),
    Endpoint("private_remind", "POST", f"{SPACE}/reminder", "remind", ok=204, scheduled=True,
             private=True),
    Endpoint("private_accept_invite", "POST", f"{SPACE}/invites/{{code}}/accept", "accept_invite",
             params=lambda ctx: {"code": ctx["code"]}, needs=("invite_link",), private=True),
    Endpoint("private_add_listener", "POST", f"{SPACE}/listeners/{{username}}",
             "manage_listeners", params=lambda ctx: {"username": ctx["names"]["target"]},
             private=True),
)

# Routes outside the matrix, each with the reason. Anything else must be in ENDPOINTS.
NOT_IN_MATRIX: dict[tuple[str, str], str] = {
    **{(m, p): "not per-Space: sign-up, sign-in, your own account" for m, p in (
        ("POST", "/api/auth/signup"), ("POST", "/api/auth/signin"),
        ("POST", "/api/auth/signout"), ("POST", "/api/auth/signout-everywhere"),
        ("GET", "/api/me"),
        ("GET", "/api/me/reminders"), ("GET", "/api/me/blocks"),
        ("DELETE", "/api/me/blocks/{user_id}"))},
    ("POST", "/api/spaces"): "not per-Space: anyone signed in creates a Space",
    ("GET", "/hls/clock"): "not per-Space: the time DASH players sync to (tests/http/test_dash.py)",
    **{("GET", f"/api/spaces/{{space_id}}/transcript.{fmt}"): "the transcript: 'view' as "
       "GET /api/spaces/{id} (the same use case), 404 until something was captioned, which "
       "the matrix's Spaces never are: tests/http/test_captions.py"
       for fmt in ("{fmt}",)},
    **{(m, p): "a recording's and its clips' rules (domain/recordings.py: clip = may listen "
               "and signed in; trim and delete the recording = the host, once ended; delete a "
               "clip = its maker or the host), on an ended Space the matrix does not make: "
               "tests/http/test_clips.py" for m, p in (
        ("GET", "/api/spaces/{space_id}/recording"), ("PATCH", "/api/spaces/{space_id}/recording"),
        ("DELETE", "/api/spaces/{space_id}/recording"), ("POST", "/api/spaces/{space_id}/clips"),
        ("GET", "/api/spaces/{space_id}/clips"), ("GET", "/api/clips/{clip_id}"),
        ("DELETE", "/api/clips/{clip_id}"), ("GET", "/api/clips/{clip_id}/audio.m4a"),
        ("GET", "/api/clips/{clip_id}/captions.vtt"), ("GET", "/c/{clip_id}"),
        ("GET", "/hls/{space_id}/replay.m4a"), ("GET", "/hls/{space_id}/t/{token}/replay.m4a"))},
    ("GET", "/u/{username}/feed.xml"): "not per-Space: a host's public replays only (private "
                                       "ones never: tests/http/test_clips.py)",
    **{(m, p): "not per-Space: your own settings, browsers and bell (signed in: "
               "tests/http/test_settings.py, test_webpush.py, test_bell_stream.py)" for m, p in (
        ("GET", "/api/me/settings"), ("PATCH", "/api/me/settings"),
        ("GET", "/api/me/push-subscriptions"), ("POST", "/api/me/push-subscriptions"),
        ("DELETE", "/api/me/push-subscriptions"), ("GET", "/api/me/events"))},
    **{(m, p): "not per-Space: the link in an email is the key (signed; forged and stale "
               "links: tests/http/test_email.py)" for m, p in (
        ("GET", "/api/unsubscribe"), ("POST", "/api/unsubscribe"),
        ("GET", "/api/email/confirm"), ("POST", "/api/email/confirm"))},
    ("GET", "/api/push/key"): "not per-Space: the server's public VAPID key",
    ("GET", "/api/home"): "not per-Space: your home; each Space in it is shown only to who "
                          "may view it (tests/http/test_home.py)",
    **{(m, p): "not per-Space: operator moderation and its public log (who may: "
               "tests/http/test_moderation_ops.py)" for m, p in (
        ("GET", "/api/me/standing"), ("GET", "/api/operator/queue"),
        ("GET", "/api/reports/reasons"), ("GET", "/api/transparency"),
        ("GET", "/api/transparency/head"), ("GET", "/operator"), ("GET", "/standing"),
        ("GET", "/transparency"), ("POST", "/api/appeals"), ("POST", "/api/operator/actions"),
        ("POST", "/api/operator/appeals/{appeal_id}/answer"),
        ("POST", "/api/operator/reports/{report_id}/dismiss"), ("POST", "/api/reports"))},
    ("POST", "/api/spaces/{space_id}/beacon"): "audience figures: anyone playing counts "
                                                "(anonymous too)",
    ("GET", "/api/spaces"): "not per-Space: the public lists (live, upcoming, recent)",
    ("GET", "/api/users/{username}"): "not per-Space: a public profile",
    ("GET", "/api/search"): "not per-Space: public search; each Space found is shown only "
                            "to who may view it (tests/http/test_search.py)",
    **{(m, p): "not per-Space: your own account / a public profile (follows and "
               "notifications: tests/http/test_follows.py)" for m, p in (
        ("POST", "/api/users/{username}/follow"), ("DELETE", "/api/users/{username}/follow"),
        ("GET", "/api/users/{username}/followers"), ("GET", "/api/users/{username}/following"),
        ("GET", "/api/me/notifications"), ("POST", "/api/me/notifications/read"))},
    **{(m, p): "not per-Space: only its owner edits a profile (anyone else 403, anonymous "
               "401: tests/http/test_profiles.py)" for m, p in (
        ("PATCH", "/api/users/{username}"), ("PUT", "/api/users/{username}/avatar"),
        ("DELETE", "/api/users/{username}/avatar"))},
    **{(m, p): "avatars are public, like profiles (tests/http/test_profiles.py)" for m, p in (
        ("GET", "/avatars/{user_id}/{version}/{size}.webp"),
        ("GET", "/avatars/{user_id}/initials/{text}.svg"))},
    **{(m, p): "authorized by the WHIP bearer token that POST /stage mints (in the matrix, "
              "as 'publish'); bad, revoked and foreign tokens are in test_bad_input"
       for m, p in (("POST", "/whip/{space_id}"), ("DELETE", "/whip/{space_id}/{resource_id}"),
                    ("PATCH", "/whip/{space_id}/{resource_id}"))},
    **{(m, p): "plain HLS: anyone may listen to a public Space without signing in, so no "
               "role applies; a private Space's answer 403 (test_private_spaces)"
       for m, p in (("GET", "/hls/{space_id}/live.m3u8"), ("GET", "/hls/{space_id}/replay.m3u8"),
                    ("GET", "/hls/{space_id}/{name}"))},
    **{(m, p): "signed HLS: the URL is the key (GET /playback mints it, in the matrix as "
               "'listen'); bad, expired and foreign tokens are in test_private_spaces"
       for m, p in (("GET", "/hls/{space_id}/t/{token}/live.m3u8"),
                    ("GET", "/hls/{space_id}/t/{token}/replay.m3u8"),
                    ("GET", "/hls/{space_id}/t/{token}/{name}"))},
    **{(m, p): "HTML pages and static files: they call the API, which is in the matrix"
       for m, p in (("GET", "/"), ("GET", "/signin"), ("GET", "/signup"),
                    ("GET", "/s/{space_id}"), ("GET", "/s/{space_id}/invite/{code}"),
                    ("GET", "/u/{username}"), ("GET", "/s/{space_id}/analytics"), ("GET", "/vendor/{name}"),
                    ("GET", "/search"), ("GET", "/settings"), ("GET", "/s/{space_id}/status"),
                    ("GET", "/sw.js"),
                    ("GET", "/static"))},
    **{(m, p): "operations and API documentation" for m, p in (
        ("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"))},
}

# Pairs where the server disagrees with the table (strict xfail: fixing one fails the run
# until its entry goes). Empty: the server agrees with the table everywhere.
DISAGREEMENTS: dict[tuple[str, str], str] = {}


# -- the cast: users created once per module -------------------------------------------
@dataclass
class Cast:
    server: Server
    clients: dict[str, httpx.Client]
    ids: dict[str, int]
    names: dict[str, str]
    raisers: list[str]
    blocking_space: str = ""
    own_space: str = ""
    _turn: Iterator[str] = field(init=False)

    def __post_init__(self) -> None:
        self._turn = itertools.cycle(self.raisers)

    @property
    def host(self) -> httpx.Client:
        return self.clients["host"]

    def next_raiser(self) -> str:
        return next(self._turn)

    @staticmethod
    def ok(response: httpx.Response) -> httpx.Response:
        assert response.is_success, f"setup: {response.request.method} {response.request.url} " \
                                    f"-> {response.status_code} {response.text}"
        return response


def _me(client: httpx.Client) -> tuple[int, str]:
    me = Cast.ok(client.get("/api/me")).json()
    return me["id"], me["username"]


@pytest.fixture(scope="module")
def cast(server: Server) -> Iterator[Cast]:
    signed_in = [a for a in ACTORS if a != "anonymous"]
    raisers = [f"raiser{i}" for i in range(RAISERS)]
    clients = {name: signed_in_client(server.base_url, f"az_{name[:8]}")
               for name in (*signed_in, *EXTRAS, *raisers)}
    clients["anonymous"] = httpx.Client(base_url=server.base_url, timeout=20)
    ids, names = {}, {}
    for name, client in clients.items():
        if name != "anonymous":
            ids[name], names[name] = _me(client)
    c = Cast(server, clients, ids, names, raisers)
    # "blocked" is blocked by the host in another Space: blocks cover all their Spaces.
    c.blocking_space = Cast.ok(c.host.post("/api/spaces", json={"title": "Blocking"})).json()["id"]
    Cast.ok(c.host.post(f"/api/spaces/{c.blocking_space}/block", json={"user_id": ids["blocked"]}))
    # "other_host" hosts a live Space of their own.
    other = clients["other_host"]
    c.own_space = Cast.ok(other.post("/api/spaces", json={"title": "Mine"})).json()["id"]
    Cast.ok(other.post(f"/api/spaces/{c.own_space}/live"))
    yield c
    Cast.ok(other.post(f"/api/spaces/{c.own_space}/end"))
    Cast.ok(c.host.post(f"/api/spaces/{c.blocking_space}/cancel"))
    for client in clients.values():
        client.close()


def fresh_space(cast: Cast, endpoint: Endpoint) -> str:
    """A new Space of the host's, scheduled or live, with nobody in it yet."""
    body: dict[str, Any] = {"title": f"Matrix {endpoint.id}", "private": endpoint.private}
    if endpoint.scheduled:
        body["scheduled_start"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    space_id: str = Cast.ok(cast.host.post("/api/spaces", json=body)).json()["id"]
    if not endpoint.scheduled:
        Cast.ok(cast.host.post(f"/api/spaces/{space_id}/live"))
    return space_id


def cast_roles(cast: Cast, space_id: str, endpoint: Endpoint) -> Ctx:
    """Give everyone their role in the Space, through the API, as the host would."""
    host, url = cast.host, f"/api/spaces/{space_id}"

    def make_speaker(name: str) -> None:
        cast.ok(host.post(f"{url}/speakers", json={"username": cast.names[name]}))
        cast.ok(cast.clients[name].post(f"{url}/invitation/accept"))

    cast.ok(host.post(f"{url}/cohosts", json={"user_id": cast.ids["cohost"]}))
    make_speaker("speaker")
    cast.ok(host.post(f"{url}/listeners/{cast.names['guest']}"))
    cast.ok(host.post(f"{url}/remove", json={"user_id": cast.ids["removed"]}))
    ctx: Ctx = {**cast.ids, "names": cast.names}
    if "cohost2" in endpoint.needs:
        cast.ok(host.post(f"{url}/cohosts", json={"user_id": cast.ids["cohost2"]}))
    if "speaker2" in endpoint.needs:
        make_speaker("speaker2")
    if "guest2" in endpoint.needs:
        cast.ok(host.post(f"{url}/listeners/{cast.names['guest2']}"))
    if "raiser" in endpoint.needs:
        raiser = cast.next_raiser()
        cast.ok(cast.clients[raiser].post(f"{url}/hand"))
        ctx["raiser"] = cast.ids[raiser]
    if "invite_link" in endpoint.needs:
        ctx["code"] = cast.ok(host.post(f"{url}/invites")).json()["code"]
    if "pinned" in endpoint.needs:
        cast.ok(host.put(f"{url}/pinned", json={"url": "https://example.com/pinned"}))
    return ctx


def call(cast: Cast, endpoint: Endpoint, actor: str, space_id: str, ctx: Ctx
         ) -> tuple[int, httpx.Headers, Any]:
    client = cast.clients[actor]
    # Anonymous names the speaker where a body wants "me": nobody acts for someone else.
    me = cast.ids["speaker" if actor == "anonymous" else actor]
    url = endpoint.path.format(space_id=space_id, **endpoint.params(ctx))
    json = endpoint.body(ctx, me) if endpoint.body else None
    with client.stream(endpoint.method, url, json=json) as response:
        if endpoint.stream and response.is_success:
            return response.status_code, response.headers, None  # the stream never ends
        response.read()
    body = response.json() if "json" in response.headers.get("content-type", "") else None
    return response.status_code, response.headers, body


def _matrix() -> list[Any]:
    return [
        pytest.param(endpoint, actor, id=f"{endpoint.id}-{actor}", marks=[
            pytest.mark.xfail(strict=True, reason=DISAGREEMENTS[endpoint.id, actor])
        ] if (endpoint.id, actor) in DISAGREEMENTS else [])
        for endpoint in ENDPOINTS
        for actor in ACTORS
    ]


@pytest.mark.parametrize(("endpoint", "actor"), _matrix())
def test_matrix(cast: Cast, endpoint: Endpoint, actor: str) -> None:
    space_id = fresh_space(cast, endpoint)
    try:
        ctx = cast_roles(cast, space_id, endpoint)
        if endpoint.prepare is not None:
            endpoint.prepare(cast, space_id, actor)
        status, headers, body = call(cast, endpoint, actor, space_id, ctx)
    finally:
        # Ending stops the Space's media thread (a cancelled/ended one answers 409).
        end = cast.host.post(f"/api/spaces/{space_id}/end")
        if endpoint.id == "block" and actor == "host":
            cast.ok(cast.host.delete(f"/api/me/blocks/{cast.ids['victim']}"))
    assert end.status_code == 200 or (end.status_code == 409 and actor == "host"
                                      and endpoint.id in ("end", "cancel")), end.text

    what = f"{endpoint.method} {endpoint.path} as {actor}: {status} {body}"
    if ACTORS[actor] in allowed(endpoint.action, endpoint.private):
        expected = 409 if actor in endpoint.conflict else endpoint.ok
        assert status == expected, what
        if endpoint.stream:
            assert headers["content-type"].startswith("text/event-stream"), what
    else:
        assert status == (401 if actor == "anonymous" else 403), what
        assert isinstance(body, dict) and isinstance(body.get("detail"), str), what
        assert body["detail"].strip(), what


# -- the matrix covers everything ---------------------------------------------------------
def app_routes() -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, HEAD aside."""
    app = create_app()
    try:  # FastAPI >= 0.165 keeps included routers as one route each
        from fastapi.routing import iter_route_contexts

        routes: Any = list(iter_route_contexts(app.routes))
    except ImportError:
        routes = app.routes
    found = set()
    for route in routes:
        path = getattr(route, "path", None)
        assert path is not None, f"a route without a path: {route!r}"
        for method in getattr(route, "methods", None) or {"GET"}:  # a Mount has no methods
            if method != "HEAD":
                found.add((method, path))
    return found


def test_every_route_is_classified() -> None:
    routes = app_routes()
    in_matrix = {(e.method, e.path) for e in ENDPOINTS}
    unclassified = routes - in_matrix - NOT_IN_MATRIX.keys()
    assert not unclassified, (
        f"routes in neither ENDPOINTS nor NOT_IN_MATRIX: {sorted(unclassified)}; add each to "
        "the authorization matrix with the PERMISSIONS action it needs")
    assert not in_matrix & NOT_IN_MATRIX.keys()
    gone = (in_matrix | NOT_IN_MATRIX.keys()) - routes
    assert not gone, f"listed but not served: {sorted(gone)}"


def test_every_action_has_an_endpoint() -> None:
    used = {e.action for e in ENDPOINTS}
    assert used == PERMISSIONS.keys(), (used ^ PERMISSIONS.keys())
    assert len({e.id for e in ENDPOINTS}) == len(ENDPOINTS)
    for endpoint in ENDPOINTS:  # a 409 is only for allowed actors
        assert all(ACTORS[a] in allowed(endpoint.action, endpoint.private) for a in endpoint.conflict)
    # A guest is a listener with an invitation: the same rights, and more only in private.
    for action, actors in PERMISSIONS.items():
        assert (Actor.GUEST in actors) == (Actor.LISTENER in actors), action
    for endpoint_id, actor in DISAGREEMENTS:
        assert endpoint_id in {e.id for e in ENDPOINTS} and actor in ACTORS

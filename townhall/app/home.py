"""The home feed: who you follow first, then Discover, where every card says why it is
there (the formula and its sentences: townhall/domain/discover.py).

- Following: live and upcoming Spaces whose host you follow, and nothing else (a Space
  where someone you follow only speaks is in Discover, with that reason).
- Yours: your own live and upcoming Spaces.
- Discover: live and upcoming Spaces of everyone else, ranked, each with its reasons;
  empty when you turned it off (User.discover, PATCH /api/me/settings).

Private Spaces only for whom their Room lets view them, never a Space of a host who
blocked you (the same rule as the lists: store/rooms.py maybe_visible, then
`room.may("view")`). Bounded: at most DISCOVER_CANDIDATES live and as many upcoming
Spaces are read and ranked (the latest started and the soonest), DISCOVER_CARDS shown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import Select, and_, true
from sqlalchemy.orm import Session as OrmSession

from townhall.app.presenters import LiveFacts, SpaceOut, as_utc, present
from townhall.domain import Room
from townhall.domain import discover as ranking
from townhall.store import discover as store
from townhall.store import rooms
from townhall.store.db import Database
from townhall.store.models import Space, User

# Spaces in each of Following's and Yours' lists (as in GET /api/spaces).
LIST_LIMIT = 20
# Live Spaces, and as many upcoming ones, read and ranked for Discover: the figures are
# a few grouped queries over these, whatever the size of the deployment.
DISCOVER_CANDIDATES = 200
# Cards shown in Discover.
DISCOVER_CARDS = 20
# Latest Spaces of people you follow (and that you set reminders for) whose topics
# count as yours.
INTEREST_SPACES = 50
# Spaces read from a query at a time while skipping those the viewer may not see.
_CHUNK = 50


class SpaceLists(BaseModel):
    live: list[SpaceOut]
    upcoming: list[SpaceOut]


class CardOut(BaseModel):
    space: SpaceOut
    # The sum of the formula's terms (README "How Discover ranks").
    score: float
    # Each term that adds to the score, as a sentence, biggest first.
    reasons: list[str]


class HomeOut(BaseModel):
    signed_in: bool
    # Spaces of hosts you follow (null when signed out).
    following: SpaceLists | None
    # Your own Spaces (null when signed out).
    yours: SpaceLists | None
    discover_enabled: bool
    discover: list[CardOut]
    # How Discover ranks, in words.
    formula: str
    # What you may do here: "turn_off_discover" or "turn_on_discover" (signed in).
    can: list[str]


def home(db_: Database, viewer_id: int | None, base: str, now: datetime,
         upcoming_grace: float, live_facts: Callable[[str], LiveFacts]) -> HomeOut:
    """The home feed for `viewer_id` (None: signed out). Blocking: run it in a
    database thread."""
    stale = now - timedelta(seconds=upcoming_grace)
    with db_.session() as db:
        def lists(where) -> SpaceLists:  # type: ignore[no-untyped-def]
            def out(query: Select) -> list[SpaceOut]:
                return [present(db, space, room, viewer_id, base, live_facts(space.id))
                        for space, room in _visible(db, query, viewer_id, LIST_LIMIT)]
            return SpaceLists(live=out(store.live(where, viewer_id)),
                              upcoming=out(store.upcoming(where, stale, viewer_id)))

        following = yours = None
        enabled = True
        if viewer_id is not None:
            user = db.get(User, viewer_id)  # not the session cache's copy: it may be older
            enabled = bool(user.discover) if user is not None else True
            following = lists(Space.host_id.in_(store.followed_hosts(viewer_id)))
            yours = lists(Space.host_id == viewer_id)
        cards = _discover(db, viewer_id, base, now, stale, live_facts) if enabled else []
        can = [] if viewer_id is None else [
            "turn_off_discover" if enabled else "turn_on_discover"]
        return HomeOut(signed_in=viewer_id is not None, following=following, yours=yours,
                       discover_enabled=enabled, discover=cards, formula=ranking.FORMULA,
                       can=can)


def _discover(db: OrmSession, viewer_id: int | None, base: str, now: datetime,
              stale: datetime, live_facts: Callable[[str], LiveFacts]) -> list[CardOut]:
    others = true() if viewer_id is None else and_(
        Space.host_id != viewer_id, Space.host_id.not_in(store.followed_hosts(viewer_id)))
    candidates = [*_visible(db, store.live(others, viewer_id), viewer_id, DISCOVER_CANDIDATES),
                  *_visible(db, store.upcoming(others, stale, viewer_id), viewer_id,
                            DISCOVER_CANDIDATES)]
    if not candidates:
        return []
    facts = {space.id: live_facts(space.id) for space, _ in candidates}
    reminders = store.reminder_counts(db, (space.id for space, _ in candidates))
    followed: set[int] = set()
    host_followers: dict[int, int] = {}
    interests: dict[str, str] = {}
    if viewer_id is not None:
        followed = store.followed_among(
            db, viewer_id, (uid for _, room in candidates for uid in room.on_speaker_list))
        host_followers = store.followed_by_my_follows(
            db, viewer_id, (space.host_id for space, _ in candidates))
        interests = store.interests(db, viewer_id, INTEREST_SPACES)
    ranked = []
    for space, room in candidates:
        live = space.state == "live"
        start = as_utc(space.scheduled_start)
        signals = ranking.Signals(
            live=live,
            followed_speakers=len((room.on_speaker_list & followed) - {viewer_id}),
            host_followed_by=host_followers.get(space.host_id, 0),
            shared_topics=ranking.shared_topics(space.topics or (), interests),
            listeners=facts[space.id].listeners if live else 0,
            reminders=reminders.get(space.id, 0),
            hours_to_start=None if live or start is None
            else (start - now).total_seconds() / 3600)
        result = ranking.rank(signals)
        ranked.append((ranking.order_key(result, signals, space.id), space, room, result))
    ranked.sort(key=lambda entry: entry[0])
    return [CardOut(space=present(db, space, room, viewer_id, base, facts[space.id]),
                    score=result.score, reasons=result.reasons)
            for _, space, room, result in ranked[:DISCOVER_CARDS]]


def _visible(db: OrmSession, query: Select, viewer_id: int | None,
             limit: int) -> list[tuple[Space, Room]]:
    """The first `limit` Spaces of `query` the viewer may view, with their Rooms (read a
    chunk at a time; the rest is never read)."""
    found: list[tuple[Space, Room]] = []
    result = db.execute(query.execution_options(yield_per=_CHUNK))
    try:
        for chunk in result.partitions():
            spaces = [row[0] for row in chunk]
            loaded = rooms.rooms_of(db, spaces)
            for space in spaces:
                if loaded[space.id].may("view", viewer_id):
                    found.append((space, loaded[space.id]))
                    if len(found) == limit:
                        return found
    finally:
        result.close()
    return found

"""Full-text search of Spaces and people: the one place that knows how each database
does it (the indexes come from migration 0007).

- SQLite: FTS5 tables `search_spaces` (title, topics, description, host: the host's
  display name and username) and `search_users` (username, display name), kept in sync
  by triggers; ranked by bm25 with column weights title 10, topics 5, host 5,
  description 1 (users: username 2, display name 1).
- PostgreSQL: a tsvector per Space in `search_spaces` (title weight A, topics and host B,
  description C; kept by triggers) and an expression GIN index on users (username A,
  display name B); ranked by ts_rank with weights A 1.0, B 0.5, C 0.2, D 0.1, normalised
  by the document's length (1 + log length).

A Space's final transcript (table transcripts: `index_transcript`, migration 0011) has
an index of its own, `search_transcripts` (SQLite FTS5, rowids as search_spaces';
PostgreSQL a tsvector, weight D, GIN): in the Space's document, a long transcript would
lower the rank of its title's match (both ranks are normalised by the document's
length). A Space is found when every word matches its fields or its transcript (words
from both together too). Spaces found by their fields alone come first, ranked as
above; then those that needed their transcript, with rank below 0: on SQLite
r / (1 + r) - 1 with r the transcript's bm25 for any of the words, on PostgreSQL the
ts_rank of fields and transcript together (as above) - 1.

Both read a query the same way: its words are runs of letters and digits (anything
else separates words and is never passed to the database's query syntax, so `"`, `*`,
`-`, `:` or `NEAR` are plain text), case does not matter, every word must match, and a
word matches any indexed word it begins ("jaz" finds "jazz"). Diacritics count ("cafe"
does not find "café") on both.

Order: the rank, best first; among equal ranks live before upcoming before replays,
then the newest; then the id (a total order, so pages never overlap). Spaces: never
cancelled ones, and a private one only for whom its Room lets view it (the same filter
as the lists: townhall/store/rooms.py maybe_visible, then `room.may("view", viewer)`,
which also hides every Space from people its host removed or blocked).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import (Select, and_, bindparam, case, column, delete, func, literal_column, or_,
                        select, table, union)
from sqlalchemy.orm import Session as OrmSession

from townhall import limits
from townhall.domain import Room, SpaceState
from townhall.store import rooms
from townhall.store.models import Space, Transcript, User

Kind = Literal["spaces", "users"]
# A word: letters and digits (what FTS5's unicode61 and PostgreSQL's parser keep).
WORD = re.compile(r"[^\W_]+")
# Spaces read from the ranked query at a time while skipping to a page.
_CHUNK = 50
# Live, then upcoming, then replays, for equal ranks.
_STATE_ORDER = case({SpaceState.LIVE.value: 0, SpaceState.SCHEDULED.value: 1},
                    value=Space.state, else_=2)
# PostgreSQL: ts_rank's weights for D, C, B, A, and the users' document exactly as
# migration 0007 indexes it (an expression index is used only for the same expression).
_PG_WEIGHTS = "'{0.1, 0.2, 0.5, 1.0}'::float4[]"
_PG_USER_DOCUMENT = ("(setweight(to_tsvector('simple'::regconfig, users.username), 'A') || "
                     "setweight(to_tsvector('simple'::regconfig, users.display_name), 'B'))")


def terms(text: str) -> list[str]:
    """The words of a query, lower-cased, each once, in order."""
    seen: dict[str, None] = {}
    for word in WORD.findall(text.lower()):
        seen.setdefault(word, None)
    return list(seen)


def matches(text: str, words: list[str]) -> list[tuple[int, int]]:
    """Where in `text` the words a query found are: (start, end) of each indexed word
    that begins with one of `words` (the rule the indexes use)."""
    return [(m.start(), m.end()) for m in WORD.finditer(text)
            if m.group().lower().startswith(tuple(words))]


@dataclass(frozen=True)
class SpaceHit:
    space: Space
    room: Room
    rank: float


@dataclass(frozen=True)
class UserHit:
    user: User
    rank: float


@dataclass(frozen=True)
class Found:
    words: list[str]
    hits: list[SpaceHit] | list[UserHit]
    more: bool  # is there a next page


def search(db: OrmSession, text: str, kind: Kind, viewer_id: int | None, page: int,
           page_size: int) -> Found:
    """Page `page` (from 1) of what `text` finds, `page_size` hits a page."""
    words = terms(text)
    if not words:
        return Found(words, [], False)
    skip = (page - 1) * page_size
    if kind == "users":
        rows = db.execute(_users(db, words).offset(skip).limit(page_size + 1)).all()
        users = [UserHit(user, float(rank)) for user, rank in rows]
        return Found(words, users[:page_size], len(users) > page_size)
    spaces: list[SpaceHit] = []
    for hit in _visible(db, _spaces(db, words, viewer_id), viewer_id):
        if skip:
            skip -= 1
            continue
        spaces.append(hit)
        if len(spaces) > page_size:
            break
    return Found(words, spaces[:page_size], len(spaces) > page_size)


def matching_spaces(db: OrmSession, words: list[str]) -> Select:
    """The ids of the Spaces whose title, topics, description or host match every word
    (the index and rule `search` uses, unranked: a subquery for a list's WHERE; who may
    see each Space is for the list to check)."""
    if _sqlite(db):
        index = table("search_spaces", column("rowid"))
        ids = table("search_space_rows", column("id"), column("space_id"))
        return (select(ids.c.space_id).select_from(index).join(ids, ids.c.id == index.c.rowid)
                .where(literal_column("search_spaces").op("MATCH")(_fts5(words))))
    index = table("search_spaces", column("space_id"), column("document"))
    return select(index.c.space_id).where(index.c.document.op("@@")(_tsquery(words)))


def _visible(db: OrmSession, query: Select, viewer_id: int | None) -> Iterator[SpaceHit]:
    """The ranked Spaces this viewer may view, in order (their Rooms decide)."""
    result = db.execute(query.execution_options(yield_per=_CHUNK))
    for chunk in result.partitions():
        found = rooms.rooms_of(db, (space for space, _ in chunk))
        for space, rank in chunk:
            room = found[space.id]
            if room.may("view", viewer_id):
                yield SpaceHit(space, room, float(rank))


def _spaces(db: OrmSession, words: list[str], viewer_id: int | None) -> Select:
    if _sqlite(db):
        ids = table("search_space_rows", column("id"), column("space_id"))
        fields = _fts5_ranked("search_spaces", _fts5(words), 10.0, 5.0, 1.0, 5.0).cte("fields")
        said = _fts5_ranked("search_transcripts", _fts5(words, "OR", "match_any")).cte("said")
        # Every word in the fields or the transcript (words from both together).
        each = and_(*(or_(ids.c.id.in_(_fts5_rows("search_spaces", word)),
                          ids.c.id.in_(_fts5_rows("search_transcripts", word)))
                      for word in (_fts5([w], name=f"word{i}") for i, w in enumerate(words))))
        rank = case((fields.c.id.is_not(None), fields.c.rank),
                    else_=said.c.rank / (1 + said.c.rank) - 1)
        query = (select(Space, rank.label("rank")).select_from(ids)
                 .join(Space, Space.id == ids.c.space_id)
                 .outerjoin(fields, fields.c.id == ids.c.id)
                 .outerjoin(said, said.c.id == ids.c.id)
                 .where(ids.c.id.in_(union(select(fields.c.id), select(said.c.id))),
                        or_(fields.c.id.is_not(None), and_(said.c.id.is_not(None), each))))
    else:
        index = table("search_spaces", column("space_id"), column("document"))
        said = table("search_transcripts", column("space_id"), column("document"))
        tsquery = _tsquery(words)
        weights = literal_column(_PG_WEIGHTS)
        by_fields = index.c.document.op("@@")(tsquery)
        both = index.c.document.op("||")(said.c.document)
        rank = case((by_fields, func.ts_rank(weights, index.c.document, tsquery, 1)),
                    else_=func.ts_rank(weights, both, tsquery, 1) - 1)
        found = union(select(index.c.space_id).where(by_fields),
                      select(said.c.space_id).where(
                          said.c.document.op("@@")(_tsquery(words, "|", "tsquery_any"))))
        query = (select(Space, rank.label("rank")).select_from(index)
                 .join(Space, Space.id == index.c.space_id)
                 .outerjoin(said, said.c.space_id == index.c.space_id)
                 .where(index.c.space_id.in_(found),
                        or_(by_fields, and_(said.c.space_id.is_not(None),
                                            both.op("@@")(tsquery)))))
    return (query.where(Space.state != SpaceState.CANCELLED.value,
                        rooms.maybe_visible(viewer_id))
            .order_by(literal_column("rank").desc(), _STATE_ORDER, Space.created_at.desc(),
                      Space.id))


def _users(db: OrmSession, words: list[str]) -> Select:
    if _sqlite(db):
        index = table("search_users", column("rowid"))
        rank = -func.bm25(literal_column("search_users"), 2.0, 1.0)
        query = (select(User, rank.label("rank")).select_from(index)
                 .join(User, User.id == index.c.rowid)
                 .where(literal_column("search_users").op("MATCH")(_fts5(words))))
    else:
        document = literal_column(_PG_USER_DOCUMENT)
        tsquery = _tsquery(words)
        rank = func.ts_rank(literal_column(_PG_WEIGHTS), document, tsquery, 1)
        query = select(User, rank.label("rank")).where(document.op("@@")(tsquery))
    return query.order_by(literal_column("rank").desc(), User.username, User.id)


def _sqlite(db: OrmSession) -> bool:
    return db.get_bind().dialect.name == "sqlite"


def _fts5(words: list[str], join: str = " ", name: str = "match"):  # type: ignore[no-untyped-def]
    """An FTS5 query: every word (or with join "OR", any) as a quoted prefix (words hold
    no quote: see WORD)."""
    return bindparam(name, f" {join} ".join(f'"{word}"*' for word in words))


def _fts5_rows(name: str, match) -> Select:  # type: ignore[no-untyped-def]
    return select(literal_column("rowid")).select_from(table(name)).where(
        literal_column(name).op("MATCH")(match))


def _fts5_ranked(name: str, match, *weights: float) -> Select:  # type: ignore[no-untyped-def]
    rank = -func.bm25(literal_column(name), *weights)
    return select(literal_column("rowid").label("id"), rank.label("rank")).select_from(
        table(name)).where(literal_column(name).op("MATCH")(match))


def _tsquery(words: list[str], join: str = "&", name: str = "tsquery"):  # type: ignore[no-untyped-def]
    """A tsquery: every word (with join "|", any) as a quoted prefix."""
    text = f" {join} ".join(f"'{word}':*" for word in words)
    return func.to_tsquery(literal_column("'simple'::regconfig"), bindparam(name, text))


# -- transcripts ---------------------------------------------------------------------------
def index_transcript(db: OrmSession, space_id: str, text: str) -> None:
    """Make a Space's final transcript searchable (again: it replaces the one before);
    its first MAX_TRANSCRIPT_SEARCH_CHARS characters."""
    text = text[:limits.MAX_TRANSCRIPT_SEARCH_CHARS]
    row = db.get(Transcript, space_id)
    if row is None:
        db.add(Transcript(space_id=space_id, text=text))
    elif row.text != text:
        row.text = text
        row.updated_at = datetime.now(UTC)


def forget_transcript(db: OrmSession, space_id: str) -> None:
    """The recording is deleted: its words no longer find the Space."""
    db.execute(delete(Transcript).where(Transcript.space_id == space_id))


def transcripts_of(db: OrmSession, space_ids: list[str]) -> dict[str, str]:
    """The indexed transcript of each of these Spaces that has one."""
    if not space_ids:
        return {}
    rows = db.execute(select(Transcript.space_id, Transcript.text)
                      .where(Transcript.space_id.in_(space_ids)))
    return {space_id: text for space_id, text in rows}

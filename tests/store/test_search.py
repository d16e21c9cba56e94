"""Full-text search in the store (townhall/store/search.py, migration 0007) on SQLite
(FTS5) and PostgreSQL (tsvector, GIN): ranking, the words found, updates followed by
the index (a renamed Space is found by its new title, not its old; a host's new display
name finds their Spaces), rows stored before 0007 found after it, and FTS syntax in a
query is plain text."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic import command
from sqlalchemy import create_engine, insert, text

from townhall.store import migrate, search
from townhall.store.db import Database
from townhall.store.models import Space, SpaceMember, User
from tests.store.test_migrations import database_url, postgres  # noqa: F401


def ids(db: Database, query: str, viewer: int | None = None, kind: str = "spaces",
        page: int = 1, size: int = 20) -> list[str]:
    with db.session() as session:
        found = search.search(session, query, kind, viewer, page, size)  # type: ignore[arg-type]
        if kind == "users":
            return [hit.user.username for hit in found.hits]  # type: ignore[union-attr]
        return [hit.space.id for hit in found.hits]  # type: ignore[union-attr]


@pytest.fixture
def db(database_url: str):  # type: ignore[no-untyped-def]  # noqa: F811
    database = Database(database_url)
    with database.session() as session:
        session.add_all([
            User(id=1, username="alice_j", password_hash="x", display_name="Alice Jones"),
            User(id=2, username="bob", password_hash="x", display_name=""),
            User(id=3, username="carol", password_hash="x", display_name="Jazz Carol"),
        ])
        session.flush()
        session.add_all([
            Space(id="title", title="Jazz night", description="Standards and blues",
                  topics=["music"], host_id=2, state="ended"),
            Space(id="desc", title="Friday talk", description="We might play some jazz later",
                  topics=[], host_id=2, state="ended"),
            Space(id="topic", title="Open mic", description="", topics=["jazz", "café"],
                  host_id=2, state="scheduled"),
            Space(id="host", title="Cooking", description="", topics=[], host_id=1,
                  state="live"),
            Space(id="gone", title="Jazz cancelled", description="", host_id=2,
                  state="cancelled"),
            Space(id="secret", title="Secret jazz", description="", host_id=2,
                  private=True, state="scheduled", room={"guests": [3]}),
        ])
        session.flush()
        session.add(SpaceMember(space_id="secret", user_id=3))  # as rooms.keep_members does
    yield database
    database.close()


def test_spaces_are_found_by_each_field_and_ranked_title_first(db: Database) -> None:
    # Title beats topics beats description; the cancelled and the private one are absent.
    assert ids(db, "jazz") == ["title", "topic", "desc"]
    assert ids(db, "JAZ") == ["title", "topic", "desc"]  # a prefix, any case
    assert ids(db, "café") == ["topic"]
    assert ids(db, "cafe") == []  # diacritics count, on both databases
    # The host's display name and username; words from different fields together.
    assert ids(db, "alice") == ["host"]
    assert ids(db, "jones cooking") == ["host"]
    assert ids(db, "jazz bob") == ["title", "topic", "desc"]
    assert ids(db, "jazz alice") == []  # every word must match


def test_a_private_space_only_for_its_host_and_members(db: Database) -> None:
    assert "secret" not in ids(db, "secret", viewer=None)
    assert "secret" not in ids(db, "secret", viewer=1)
    assert ids(db, "secret", viewer=2) == ["secret"]  # its host
    assert ids(db, "secret", viewer=3) == ["secret"]  # a member


JAZZ = ["title", "topic", "desc"]


@pytest.mark.parametrize(("query", "expected"), [
    ('"', []), ("*", []), (":", []), ("-", []), ("'", []), ("\\", []), ("%", []),
    ("NEAR", []), ("jazz*", JAZZ), ("-jazz", JAZZ), ("title:jazz", []), ("jazz:", JAZZ),
    ('jazz" OR "cooking', []), ("NEAR(jazz night)", []), ("jazz NOT night", []),
    ("a & b | !c", []), ("\x00jazz", JAZZ), ('"jazz night"', ["title"]),
    # Words of other scripts and odd digits: searched as words, never an error.
    ("²", []), ("ⅫⅩ", []), ("١٢٣", []), ("ｆｕｌｌ", []), ("日本語", []), ("ǅ", []),
    ("🎷 jazz", JAZZ), ("jazz\u0301", JAZZ),
])
def test_query_syntax_is_plain_text(db: Database, query: str, expected: list[str]) -> None:
    """Nothing in a query reaches the database's query language, only its words: "-" is
    no negation, "title:" no column, OR/NEAR/NOT plain words every hit must contain."""
    assert ids(db, query) == expected


def test_updates_are_followed(db: Database) -> None:
    with db.session() as session:
        space = session.get(Space, "title")
        assert space is not None
        space.title = "Blues evening"
        space.topics = ["soul"]
        user = session.get(User, 2)
        assert user is not None
        user.display_name = "Roberta"
    assert ids(db, "blues evening") == ["title"]
    assert "title" not in ids(db, "night")
    assert ids(db, "soul") == ["title"]
    assert set(ids(db, "roberta")) == {"title", "desc", "topic"}
    with db.session() as session:
        session.delete(session.get(Space, "desc"))
    assert ids(db, "friday") == []


def test_people_by_username_and_display_name(db: Database) -> None:
    assert ids(db, "jazz", kind="users") == ["carol"]
    assert ids(db, "alice", kind="users") == ["alice_j"]
    assert ids(db, "jones", kind="users") == ["alice_j"]
    assert ids(db, "nobody", kind="users") == []
    with db.session() as session:
        session.add(User(id=4, username="jazzman", password_hash="x", display_name=""))
    # A username match (weight A) ranks above a display-name one (B).
    assert ids(db, "jazz", kind="users") == ["jazzman", "carol"]


def test_pages_never_overlap_and_say_when_there_are_more(db: Database) -> None:
    with db.session() as session:
        session.add_all(Space(id=f"many{i:02}", title=f"Many {i}", host_id=2, state="ended")
                        for i in range(25))
    first, second, third = (ids(db, "many", page=p, size=10) for p in (1, 2, 3))
    assert (len(first), len(second), len(third)) == (10, 10, 5)
    assert len(set(first + second + third)) == 25
    assert ids(db, "many", page=4, size=10) == []
    with db.session() as session:
        assert search.search(session, "many", "spaces", None, 2, 10).more is True
        assert search.search(session, "many", "spaces", None, 3, 10).more is False


def test_rows_stored_before_0007_are_found(database_url: str) -> None:  # noqa: F811
    engine = create_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), "0006")
        connection.execute(text(
            "INSERT INTO users (id, username, password_hash, created_at, display_name, bio) "
            "VALUES (1, 'early', 'x', :t, 'Early Bird', '')"), {"t": datetime(2026, 11, 1)})
        connection.execute(text(
            "INSERT INTO spaces (id, title, description, topics, host_id, state, room, "
            "private, created_at) VALUES ('old1', 'Vintage radio', 'Valves', '[\"ham\"]', 1, "
            "'ended', '{}', false, :t)"), {"t": datetime(2026, 11, 1)})
    engine.dispose()
    db = Database(database_url)
    try:
        assert ids(db, "vintage") == ids(db, "valves") == ids(db, "ham") == ["old1"]
        assert ids(db, "bird") == ["old1"]
        assert ids(db, "early", kind="users") == ["early"]
    finally:
        db.close()


def test_postgresql_uses_the_gin_indexes(postgres) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The queries use the indexes 0007 made (an expression index only serves the same
    expression: search.py and the migration must agree). PostgreSQL only: on SQLite the
    FTS5 tables are the index. Asked of a database with thousands of rows and statistics
    (on empty tables the planner's choice says little: a full scan of the primary key
    index costs as little as anything)."""
    db = Database(postgres())
    try:
        with db.session() as session:
            session.add(User(id=1, username="plenty", password_hash="x"))
            session.flush()
            session.execute(insert(User), [
                {"id": 1 + i, "username": f"{'jazzfan' if i % 500 == 0 else 'person'}{i}",
                 "password_hash": "x", "display_name": "", "bio": ""} for i in range(1, 3000)])
            session.execute(insert(Space), [
                {"id": f"s{i:07d}", "title": f"{'Jazz night' if i % 500 == 0 else 'A talk'} {i}",
                 "description": "", "topics": [], "host_id": 1, "state": "ended",
                 "room": {}, "private": False} for i in range(3000)])
        with db.session() as session:
            session.execute(text("ANALYZE"))
        with db.session() as session:
            # Small tables are cheapest read whole, or walked by their primary key: ask
            # whether the planner can use the full-text index at all when it may do
            # neither (it cannot if search.py's expression differs from the index's).
            session.execute(text("SET LOCAL enable_seqscan = off"))
            session.execute(text("SET LOCAL enable_indexscan = off"))
            dialect = session.get_bind().dialect
            for query, index in ((search._spaces(session, ["jazz"], 1), "search_spaces_document"),
                                 (search._users(session, ["jazz"]), "search_users")):
                sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
                plan = "\n".join(session.execute(text(f"EXPLAIN {sql}")).scalars())
                assert index in plan, plan
    finally:
        db.close()


def _said(db: Database, space_id: str, words: str) -> None:
    with db.session() as session:
        search.index_transcript(session, space_id, words)


def ranked(db: Database, query: str, viewer: int | None = None) -> list[tuple[str, float]]:
    with db.session() as session:
        found = search.search(session, query, "spaces", viewer, 1, 20)
        return [(hit.space.id, hit.rank) for hit in found.hits]  # type: ignore[union-attr]


def test_a_transcript_finds_its_space_below_the_fields(db: Database) -> None:
    """Migration 0011: the final transcript's words find the Space, ranked after every
    Space their fields found (rank below 0), words from fields and transcript together."""
    with db.session() as session:
        session.add(Space(id="talk", title="Weekly chat", description="", topics=[],
                          host_id=1, state="ended"))
    _said(db, "talk", "We listened to some jazz records and a Saxophone solo")
    assert ids(db, "saxophone") == ids(db, "SAX") == ["talk"]
    assert ids(db, "jazz") == ["title", "topic", "desc", "talk"]
    hits = ranked(db, "jazz")
    assert min(r for _, r in hits[:3]) > 0 > hits[3][1] > -1
    assert ids(db, "weekly saxophone") == ["talk"]  # title and transcript together
    assert ids(db, "jones saxophone") == ["talk"]  # host and transcript together
    assert ids(db, "saxophone trumpet") == []  # every word must match
    # A new final transcript replaces the old one.
    _said(db, "talk", "Only trumpets today")
    assert ids(db, "saxophone") == []
    assert ids(db, "trumpet") == ["talk"]
    # The recording deleted: its words no longer find it; the title still does.
    with db.session() as session:
        search.forget_transcript(session, "talk")
    assert ids(db, "trumpet") == []
    assert ids(db, "weekly") == ["talk"]


def test_a_private_spaces_transcript_only_for_whom_may_view_it(db: Database) -> None:
    _said(db, "secret", "whispered plans")
    _said(db, "gone", "whispered too")  # cancelled: never found
    assert ids(db, "whispered") == []
    assert ids(db, "whispered", viewer=1) == []
    assert ids(db, "whispered", viewer=2) == ["secret"]
    assert ids(db, "whispered", viewer=3) == ["secret"]
    with db.session() as session:  # taken down by an operator: gone for everyone
        space = session.get(Space, "secret")
        assert space is not None
        space.taken_down = 1  # the log entry that did it
    assert ids(db, "whispered", viewer=2) == []


def test_a_deleted_spaces_transcript_finds_no_other_space(db: Database) -> None:
    """SQLite reuses a deleted Space's rowid: its transcript goes with it."""
    with db.session() as session:
        session.add(Space(id="short", title="Short", host_id=1, state="ended"))
    _said(db, "short", "ephemeral words")
    with db.session() as session:
        session.delete(session.get(Space, "short"))
    with db.session() as session:
        session.add(Space(id="next", title="Next", host_id=1, state="ended"))
    assert ids(db, "ephemeral") == []
    assert ids(db, "next") == ["next"]


def test_search_works_after_0011_goes_down_and_up(db: Database) -> None:
    _said(db, "desc", "a saxophone solo")
    with db.engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "0010")
        command.upgrade(migrate.alembic_config(connection), "head")
    assert ids(db, "jazz") == ["title", "topic", "desc"]
    assert ids(db, "saxophone") == []  # the transcripts went with 0011
    _said(db, "desc", "a saxophone solo")
    assert ids(db, "saxophone") == ["desc"]

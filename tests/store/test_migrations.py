"""Schema migrations (townhall/store/migrations, townhall/store/migrate.py).

From an empty database to the newest revision on SQLite and PostgreSQL, and the models
then match the migrated schema (a model changed without a migration fails here); a
database from before migrations (no alembic_version) is stamped and upgraded, its rows
kept; origins starting together on one PostgreSQL all come up."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
import logging
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, select, text

from townhall.testing.services import postgres_server
from townhall.cli import main as townhall_main
from townhall.store import migrate, profiles
from townhall.store.db import Database
from townhall.store.models import Base, Space, User

# What `create_all` made on SQLite before private Spaces (the models of 645e42c), as
# sqlite_master kept it: the schema of revision 0001, without alembic_version.
SQLITE_BEFORE_PRIVATE_SPACES = """
CREATE TABLE users ( id INTEGER NOT NULL, username VARCHAR(32) NOT NULL, password_hash VARCHAR(200) NOT NULL, created_at DATETIME NOT NULL, PRIMARY KEY (id), UNIQUE (username) );
CREATE TABLE sessions ( token_hash VARCHAR(64) NOT NULL, user_id INTEGER NOT NULL, created_at DATETIME NOT NULL, PRIMARY KEY (token_hash), FOREIGN KEY(user_id) REFERENCES users (id) );
CREATE INDEX ix_sessions_user_id ON sessions (user_id);
CREATE TABLE spaces ( id VARCHAR(16) NOT NULL, title VARCHAR(140) NOT NULL, description VARCHAR(1000) NOT NULL, topics JSON NOT NULL, host_id INTEGER NOT NULL, state VARCHAR(16) NOT NULL, room JSON NOT NULL, pinned_url VARCHAR(2000), audience JSON, created_at DATETIME NOT NULL, scheduled_start DATETIME, started_at DATETIME, ended_at DATETIME, PRIMARY KEY (id), FOREIGN KEY(host_id) REFERENCES users (id) );
CREATE INDEX ix_spaces_host_id ON spaces (host_id);
CREATE INDEX ix_spaces_state ON spaces (state);
CREATE INDEX ix_spaces_scheduled_start ON spaces (scheduled_start);
CREATE TABLE host_blocks ( host_id INTEGER NOT NULL, user_id INTEGER NOT NULL, created_at DATETIME NOT NULL, PRIMARY KEY (host_id, user_id), FOREIGN KEY(host_id) REFERENCES users (id), FOREIGN KEY(user_id) REFERENCES users (id) );
CREATE TABLE reminders ( space_id VARCHAR(16) NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (space_id, user_id), FOREIGN KEY(space_id) REFERENCES spaces (id), FOREIGN KEY(user_id) REFERENCES users (id) );
CREATE INDEX ix_reminders_user_id ON reminders (user_id);
CREATE TABLE invites ( code VARCHAR(64) NOT NULL, space_id VARCHAR(16) NOT NULL, created_at DATETIME NOT NULL, PRIMARY KEY (code), FOREIGN KEY(space_id) REFERENCES spaces (id) );
CREATE INDEX ix_invites_space_id ON invites (space_id);
CREATE TABLE whip_tokens ( token_hash VARCHAR(64) NOT NULL, space_id VARCHAR(16) NOT NULL, user_id INTEGER NOT NULL, revoked BOOLEAN NOT NULL, PRIMARY KEY (token_hash), FOREIGN KEY(space_id) REFERENCES spaces (id), FOREIGN KEY(user_id) REFERENCES users (id) );
CREATE INDEX ix_whip_tokens_space_id ON whip_tokens (space_id);
"""  # noqa: E501


@pytest.fixture(scope="module")
def postgres() -> Iterator[Callable[[], str]]:
    """One PostgreSQL for the module; each call gives the URL of a new, empty database."""
    with postgres_server() as url:
        base, _ = url.rsplit("/", 1)
        admin = f"{base.replace('postgresql+psycopg', 'postgresql')}/postgres"
        made = iter(range(1, 1000))

        def new_database() -> str:
            name = f"townhall_{next(made)}"
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(f"CREATE DATABASE {name}")
            return f"{base}/{name}"

        yield new_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'townhall.db'}"
    return request.getfixturevalue("postgres")()


def schema_differences(engine: Engine) -> list[object]:
    """What autogenerate would write into a new revision: nothing, if every model
    change has its migration."""
    with engine.connect() as connection:
        # Search's FTS5 tables, triggers and GIN indexes (0007) are not in the models.
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "include_name": migrate.include_name})
        return compare_metadata(context, Base.metadata)


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return migrate.current(connection)


def test_revisions_form_one_line_from_0001_to_the_head() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert [s.revision for s in script.walk_revisions("base", "heads")][::-1] == [
        "0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010", "0011"]
    assert migrate.head() == "0011"


def test_an_empty_database_is_migrated_to_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert revision_of(db.engine) == migrate.head()
        assert schema_differences(db.engine) == []
        # Every revision goes down and up again (`alembic downgrade` for a developer).
        with db.engine.begin() as connection:
            command.downgrade(migrate.alembic_config(connection), "base")
        assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}
        with db.engine.begin() as connection:
            command.upgrade(migrate.alembic_config(connection), "head")
        assert schema_differences(db.engine) == []
        # Started again: nothing to do.
        Database(database_url).close()
        assert revision_of(db.engine) == migrate.head()
    finally:
        db.close()


def test_a_model_change_without_a_migration_is_noticed(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'townhall.db'}")
    with db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE spaces DROP COLUMN private"))
    differences = schema_differences(db.engine)
    db.close()
    assert [(d[0], d[3].name) for d in differences] == [("add_column", "private")]  # type: ignore[index]


def _without_profiles(connection) -> None:  # type: ignore[no-untyped-def]
    """Today's SQLite schema (from `create_all`, or migrated to the head), less what came
    after migrations existed (0003's profiles and later): the schema the last versions
    before migrations made."""
    if connection.dialect.name == "sqlite":  # a migrated one has 0011's FTS5 index
        connection.execute(text("DROP TRIGGER IF EXISTS search_transcripts_space_delete"))
        connection.execute(text("DROP TABLE IF EXISTS search_transcripts"))  # 0011
    connection.execute(text("DROP TABLE transcripts"))  # 0011 (and its triggers)
    if connection.dialect.name == "sqlite":  # a migrated one has 0007's FTS5 index
        for trigger in ("search_users_delete", "search_users_update", "search_users_insert",
                        "search_spaces_delete", "search_spaces_update",
                        "search_spaces_insert"):
            connection.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))  # 0007
        for table in ("search_users", "search_spaces", "search_space_rows"):
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))  # 0007
    for table in ("clips", "recordings"):  # 0010
        connection.execute(text(f"DROP TABLE {table}"))
    for table in ("appeals", "reports", "moderation_notes", "transparency_log"):  # 0009
        connection.execute(text(f"DROP TABLE {table}"))
    connection.execute(text("ALTER TABLE spaces DROP COLUMN taken_down"))  # 0009
    for column in ("operator", "suspension", "suspended_until"):  # 0009
        connection.execute(text(f"ALTER TABLE users DROP COLUMN {column}"))
    connection.execute(text("DROP TABLE push_subscriptions"))  # 0008
    connection.execute(text("DROP TABLE notification_optouts"))  # 0008
    for column in ("email", "email_confirmed", "discover"):  # 0008
        connection.execute(text(f"ALTER TABLE users DROP COLUMN {column}"))
    connection.execute(text("DROP TABLE notifications"))  # 0006
    connection.execute(text("DROP TABLE follows"))  # 0006
    connection.execute(text("DROP TABLE space_members"))  # 0005
    connection.execute(text("DROP INDEX ix_users_username_folded"))  # 0004
    connection.execute(text("DROP TABLE avatars"))
    for column in ("display_name", "bio", "avatar_version"):
        connection.execute(text(f"ALTER TABLE users DROP COLUMN {column}"))


def _old_rows(connection) -> None:  # type: ignore[no-untyped-def]
    created = datetime(2026, 11, 1, 12, 0)
    connection.execute(text("INSERT INTO users (id, username, password_hash, created_at) "
                            "VALUES (1, 'olduser', 'x', :t)"), {"t": created})
    connection.execute(text(
        "INSERT INTO spaces (id, title, description, topics, host_id, state, room, "
        "created_at) VALUES ('oldspace', 'Before private Spaces', 'kept', '[\"a\"]', 1, "
        "'ended', '{}', :t)"), {"t": created})


def _check_old_rows_kept(db: Database) -> None:
    with db.session() as session:
        space = session.get(Space, "oldspace")
        assert space is not None
        assert (space.title, space.description, space.topics, space.state) == (
            "Before private Spaces", "kept", ["a"], "ended")
        assert space.private is False  # the column came with its default
        host = session.get(User, space.host_id)
        assert host is not None and host.username == "olduser"
        # Profiles came later: an existing user has none yet (the placeholder face).
        assert (host.display_name, host.bio, host.avatar_version) == ("", "", None)
        # New rows use the new column.
        session.add(Space(id="newspace", title="Private", host_id=1, private=True,
                          created_at=datetime.now(UTC)))
    with db.session() as session:
        assert session.get(Space, "newspace").private is True  # type: ignore[union-attr]


def test_an_old_sqlite_database_is_stamped_and_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'townhall.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in filter(str.strip, SQLITE_BEFORE_PRIVATE_SPACES.split(";")):
            connection.execute(text(statement))
        _old_rows(connection)
    with engine.connect() as connection:
        assert migrate.current(connection) is None
        assert migrate.legacy_revision(connection) == "0001"
    engine.dispose()

    db = Database(url)
    try:
        assert revision_of(db.engine) == migrate.head()
        assert "private" in {c["name"] for c in inspect(db.engine).get_columns("spaces")}
        assert schema_differences(db.engine) == []
        _check_old_rows_kept(db)
    finally:
        db.close()


def test_an_old_postgresql_database_is_stamped_and_upgraded(
        postgres: Callable[[], str]) -> None:
    url = postgres()
    engine = create_engine(url)
    with engine.begin() as connection:  # create_all of the models before private Spaces
        Base.metadata.create_all(connection)
        _without_profiles(connection)
        connection.execute(text("ALTER TABLE spaces DROP COLUMN private"))
        _old_rows(connection)
    engine.dispose()
    db = Database(url)
    try:
        assert revision_of(db.engine) == migrate.head()
        assert schema_differences(db.engine) == []
        _check_old_rows_kept(db)
    finally:
        db.close()


def test_a_database_made_by_create_all_with_private_spaces_is_stamped_at_0002(
        tmp_path: Path) -> None:
    """The last versions before migrations had spaces.private already: nothing to run."""
    url = f"sqlite:///{tmp_path / 'townhall.db'}"
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        _without_profiles(connection)
    with engine.connect() as connection:
        assert migrate.legacy_revision(connection) == "0002"
    engine.dispose()
    db = Database(url)
    assert revision_of(db.engine) == migrate.head()  # stamped at 0002, then upgraded
    assert schema_differences(db.engine) == []
    db.close()


def test_profiles_come_with_0003_and_every_user_keeps_their_account(
        database_url: str) -> None:
    """A database at 0002 with users is upgraded: each has an empty profile, then a
    display name, a bio and an avatar (bytes, stored as they are: BLOB or bytea)."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), "0002")
        connection.execute(text("INSERT INTO users (id, username, password_hash, created_at) "
                                "VALUES (1, 'before', 'x', :t)"), {"t": datetime(2026, 11, 1)})
    engine.dispose()
    db = Database(database_url)
    try:
        assert revision_of(db.engine) == migrate.head()
        image = bytes(range(256)) * 40  # every byte value, NUL included
        with db.session() as session:
            user = session.get(User, 1)
            assert user is not None
            assert (user.display_name, user.bio, user.avatar_version) == ("", "", None)
            assert profiles.load_avatar(session, 1, small=False) == profiles.StoredAvatar(
                1, "before", "", None, None)
            profiles.edit(user, "Before Person", "Was here\nfirst")
            profiles.save_avatar(session, user, "0123456789abcdef", image, b"small")
        with db.session() as session:
            assert profiles.load_avatar(session, 1, small=False) == profiles.StoredAvatar(
                1, "before", "Before Person", "0123456789abcdef", image)
            assert profiles.load_avatar(session, 1, small=True).image == b"small"  # type: ignore[union-attr]
            assert profiles.load_avatar(session, 2, small=True) is None
            user = session.get(User, 1)
            assert user is not None and user.bio == "Was here\nfirst"
            profiles.delete_avatar(session, user)
        with db.session() as session:
            assert profiles.load_avatar(session, 1, small=False) == profiles.StoredAvatar(
                1, "before", "Before Person", None, None)
    finally:
        db.close()


def test_a_database_older_than_the_baseline_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'townhall.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in filter(str.strip, SQLITE_BEFORE_PRIVATE_SPACES.split(";")):
            connection.execute(text(statement))
        connection.execute(text("ALTER TABLE spaces DROP COLUMN audience"))
    engine.dispose()
    with pytest.raises(migrate.SchemaError, match="spaces.audience"):
        Database(url)


@pytest.mark.parametrize("start", ["empty", "before migrations"])
def test_origins_starting_together_on_postgresql_all_come_up(
        postgres: Callable[[], str], start: str) -> None:
    url = postgres()
    if start == "before migrations":
        engine = create_engine(url)
        with engine.begin() as connection:
            Base.metadata.create_all(connection)
            _without_profiles(connection)
            connection.execute(text("ALTER TABLE spaces DROP COLUMN private"))
            _old_rows(connection)
        engine.dispose()
    origins = 4
    barrier = threading.Barrier(origins)
    databases: list[Database] = []
    errors: list[BaseException] = []

    def start_origin() -> None:
        barrier.wait()
        try:
            databases.append(Database(url))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start_origin) for _ in range(origins)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert len(databases) == origins
        with databases[0].engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert versions == [(migrate.head(),)]
        assert schema_differences(databases[0].engine) == []
        for db in databases:  # every origin works on the migrated schema
            with db.session() as session:
                session.scalar(select(Space.private).limit(1))
        if start == "before migrations":
            _check_old_rows_kept(databases[-1])
    finally:
        for db in databases:
            db.close()


def test_the_db_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def run(*args: str) -> tuple[int, str]:
        # The command sets up logging for its process, onto this test's captured stderr:
        # put the test process's logging back, or every later log line fails on a closed
        # stream (thousands of "--- Logging error ---" tracebacks in CI's output).
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            with pytest.raises(SystemExit) as exit_:
                townhall_main(["db", *args, "--data-dir", str(tmp_path)])
        finally:
            root.handlers[:], root.level = handlers, level
        return exit_.value.code, capsys.readouterr().out  # type: ignore[return-value]

    assert run("current") == (0, f"no database at {tmp_path / 'townhall.db'} (head is {migrate.head()})\n")
    assert run("upgrade") == (0, f"{migrate.head()} (head)\n")
    assert run("current") == (0, f"{migrate.head()} (head)\n")
    engine = create_engine(f"sqlite:///{tmp_path / 'townhall.db'}")
    with engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "0001")
    engine.dispose()
    code, out = run("current")
    assert code == 0 and out.startswith(f"0001 (head is {migrate.head()}")
    assert run("upgrade") == (0, f"{migrate.head()} (head)\n")


def test_0004_refuses_names_that_differ_only_in_case_and_says_which(database_url: str) -> None:
    """Look-alike accounts made before 0004 are named, not silently merged or lost."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            command.upgrade(migrate.alembic_config(connection), "0003")
            for uid, name in ((1, "Host1"), (2, "HOST1"), (3, "other")):
                connection.execute(text(
                    "INSERT INTO users (id, username, password_hash, created_at, display_name, "
                    "bio) VALUES (:i, :n, 'x', :t, '', '')"),
                    {"i": uid, "n": name, "t": datetime(2026, 11, 1)})
        with pytest.raises(RuntimeError, match="differ only in case.*host1"):
            with engine.begin() as connection:
                command.upgrade(migrate.alembic_config(connection), "0004")
        with engine.begin() as connection:  # renamed, it upgrades
            connection.execute(text("UPDATE users SET username = 'Host1b' WHERE id = 2"))
            command.upgrade(migrate.alembic_config(connection), "0004")
            assert migrate.current(connection) == "0004"
    finally:
        engine.dispose()


def test_0005_finds_the_members_of_spaces_stored_before_it(database_url: str) -> None:
    """Rooms stored before 0005 get their member rows, so their private Spaces stay in
    their members' lists."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            command.upgrade(migrate.alembic_config(connection), "0004")
            for uid in (1, 2, 3):
                connection.execute(text(
                    "INSERT INTO users (id, username, password_hash, created_at, display_name, "
                    "bio) VALUES (:i, :n, 'x', :t, '', '')"),
                    {"i": uid, "n": f"user{uid}", "t": datetime(2026, 11, 1)})
            connection.execute(text(
                "INSERT INTO spaces (id, title, description, topics, host_id, state, room, "
                "private, created_at) VALUES ('p1', 'Members', '', '[]', 1, 'scheduled', "
                ":room, true, :t)"),
                {"room": '{"guests": [2], "speakers": [3], "muted": [3], "removed": []}',
                 "t": datetime(2026, 11, 1)})
            command.upgrade(migrate.alembic_config(connection), "0005")
            rows = connection.execute(text("SELECT space_id, user_id FROM space_members "
                                           "ORDER BY user_id")).all()
        assert [tuple(r) for r in rows] == [("p1", 2), ("p1", 3)]
    finally:
        engine.dispose()

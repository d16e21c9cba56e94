"""The database handle: an engine and a session factory, created once at startup."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from townhall.store.models import Base


# Columns added after tables existed (there is no migration tool): an older database
# gets them on start, with their default.
ADDED_COLUMNS = {("spaces", "private"): "BOOLEAN NOT NULL DEFAULT FALSE"}

# PostgreSQL advisory lock id held while creating the schema ("TOWN").
SCHEMA_LOCK = 0x544F574E


class Database:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # pre_ping: a cluster node outlives restarts of its PostgreSQL.
        self.engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                # Origins of a cluster start together: one creates the tables at a time.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
            Base.metadata.create_all(connection)
            _add_missing_columns(connection)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[OrmSession]:
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def _add_missing_columns(connection) -> None:  # type: ignore[no-untyped-def]
    inspector = inspect(connection)
    for (table, column), ddl in ADDED_COLUMNS.items():
        if column not in {c["name"] for c in inspector.get_columns(table)}:
            connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))


def _sqlite_pragmas(connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = connection.cursor()
    # WAL lets page reads go on while a write commits; NORMAL sync is durable in WAL mode
    # against process crashes, which is what a live server needs.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def new_token() -> tuple[str, str]:
    """A random secret for a client and the hash we store (a leaked DB leaks no tokens)."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

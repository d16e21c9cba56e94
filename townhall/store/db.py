"""The database handle: an engine and a session factory, created once at startup."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from townhall.store import migrate

# PostgreSQL advisory lock id held while migrating the schema ("TOWN").
SCHEMA_LOCK = 0x544F574E


class Database:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # pre_ping: a cluster node outlives restarts of its PostgreSQL.
        self.engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        upgrade_schema(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[OrmSession]:
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def upgrade_schema(engine: Engine) -> None:
    """Migrate the database to the newest schema revision (townhall/store/migrate.py)."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # Batch migrations copy a table and drop the old one: with foreign keys on,
            # dropping a referenced table would fail (only possible outside a transaction).
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    # Origins of a cluster start together: one migrates, the others wait
                    # here and then find the schema at the newest revision.
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                       {"key": SCHEMA_LOCK})
                migrated = migrate.upgrade(connection)
                if sqlite and migrated:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise migrate.SchemaError(f"a migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


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

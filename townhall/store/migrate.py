"""Schema migrations (Alembic, revisions in townhall/store/migrations/versions).

`Database` upgrades to the newest revision at start (under the schema lock, see db.py);
`townhall db upgrade` does the same by hand and `townhall db current` tells where a
database stands. Alembic is configured here, in code: an installed Townhall needs no
alembic.ini (the one at the repository root is for developers writing revisions).

A database made before migrations existed (tables created by `create_all`, no
alembic_version table) is recognised by its columns, stamped at the revision it
matches, then upgraded like any other.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path


def _routine(record: logging.LogRecord) -> bool:
    """Alembic's INFO lines said on every start (plugins, "Context impl", "Will assume
    ... DDL") are left out of the server's log; "Running upgrade ..." stays."""
    return not (record.levelno <= logging.INFO and record.getMessage().startswith(
        ("setup plugin", "Context impl", "Will assume")))


# Before alembic is imported: importing it sets up its plugins, saying so.
for _name in ("alembic.runtime.plugins", "alembic.runtime.migration"):
    logging.getLogger(_name).addFilter(_routine)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import Connection, inspect  # noqa: E402

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Every table and column of the first revision (0001), as `create_all` made them before
# migrations existed. Frozen: databases made from now on carry alembic_version instead.
BASELINE_COLUMNS = {
    "users": {"id", "username", "password_hash", "created_at"},
    "sessions": {"token_hash", "user_id", "created_at"},
    "spaces": {"id", "title", "description", "topics", "host_id", "state", "room",
               "pinned_url", "audience", "created_at", "scheduled_start", "started_at",
               "ended_at"},
    "host_blocks": {"host_id", "user_id", "created_at"},
    "reminders": {"space_id", "user_id"},
    "invites": {"code", "space_id", "created_at"},
    "whip_tokens": {"token_hash", "space_id", "user_id", "revoked"},
}
# What a pre-migration database may have beyond the baseline, newest first: the
# revision that added it (spaces.private came with 0002; db.py added it to older
# databases on start).
LEGACY_ADDITIONS = (("0002", "spaces", "private"),)


# Full-text search (revision 0007, townhall/store/search.py): FTS5 tables and their
# shadow tables, triggers, a tsvector table and GIN indexes, none of them in the models
# (SQLAlchemy has no FTS5 or tsvector for both databases). Autogenerate and the
# models-versus-migrations test leave them out by this prefix.
SEARCH_PREFIX = "search_"


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """For Alembic's comparison: everything but the search objects."""
    return not (type_ in ("table", "index") and (name or "").startswith(SEARCH_PREFIX))


class SchemaError(RuntimeError):
    """The database holds tables Townhall cannot place at any revision."""


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without a file; with `connection`, env.py migrates over
    it (inside the caller's transaction) instead of opening its own."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise SchemaError(f"migrations have {len(heads)} heads {heads}: merge them")
    return heads[0]


def current(connection: Connection) -> str | None:
    """The revision recorded in alembic_version (None: not recorded)."""
    return MigrationContext.configure(connection).get_current_revision()


def legacy_revision(connection: Connection) -> str | None:
    """For a database without alembic_version: None if it has none of Townhall's tables
    (a new database), else the revision its tables match."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    if not tables & BASELINE_COLUMNS.keys():
        return None
    columns = {table: {c["name"] for c in inspector.get_columns(table)}
               for table in BASELINE_COLUMNS.keys() & tables}
    missing = sorted(f"{table}.{column}" for table, expected in BASELINE_COLUMNS.items()
                     for column in expected - columns.get(table, set()))
    if missing:
        raise SchemaError(
            "the database has Townhall tables but no alembic_version, and lacks "
            f"{', '.join(missing)}: it is older than the first migration (0001) or not "
            "Townhall's; start from a new database")
    for revision, table, column in LEGACY_ADDITIONS:
        if column in columns[table]:
            return revision
    return "0001"


def upgrade(connection: Connection) -> bool:
    """Bring the database to the newest revision over `connection`, which must be in a
    transaction (PostgreSQL: holding the schema lock). True if migrations ran."""
    revision = current(connection)
    if revision is None:
        revision = legacy_revision(connection)
        if revision is not None:
            log.info("database from before migrations: stamping it at revision %s", revision)
            command.stamp(alembic_config(connection), revision)
    if revision == head():
        return False
    log.info("migrating the database schema from %s to %s", revision or "empty", head())
    command.upgrade(alembic_config(connection), "head")
    return True

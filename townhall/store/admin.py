"""`townhall db upgrade` and `townhall db current`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine

from townhall.store import migrate
from townhall.store.db import Database


def run_command(action: str, url: str) -> int:
    """`townhall db upgrade` and `townhall db current`; the exit status."""
    if url.startswith("sqlite:///") and action == "current":
        if not Path(url.removeprefix("sqlite:///")).exists():
            print(f"no database at {url.removeprefix('sqlite:///')} (head is {migrate.head()})")
            return 0
    try:
        if action == "upgrade":
            database = Database(url)  # migrates, under the schema lock
            engine = database.engine
        else:
            engine = create_engine(url)
        with engine.connect() as connection:
            revision = migrate.current(connection)
            legacy = migrate.legacy_revision(connection) if revision is None else None
        engine.dispose()
    except migrate.SchemaError as exc:
        print(f"townhall: {exc}")
        return 1
    if revision == migrate.head():
        print(f"{revision} (head)")
    elif revision is not None:
        print(f"{revision} (head is {migrate.head()}: run `townhall db upgrade` or start the server)")
    elif legacy is not None:
        print(f"made before migrations, matches {legacy} (head is {migrate.head()}: run "
              "`townhall db upgrade` or start the server)")
    else:
        print(f"empty database (head is {migrate.head()})")
    return 0

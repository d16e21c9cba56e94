"""`townhall db upgrade` and `townhall db current`."""

from __future__ import annotations

from pathlib import Path

from argparse import Namespace

from sqlalchemy import create_engine, func, select

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


def moderation_command(args: Namespace, url: str) -> int:
    """`townhall operator add|remove NAME` and `townhall transparency verify [--head H]`;
    the exit status."""
    from townhall.store import transparency
    from townhall.store.models import User

    database = Database(url)
    try:
        with database.session() as db:
            if args.command == "operator":
                user = db.scalar(select(User).where(
                    func.lower(User.username) == args.username.lower()))
                if user is None:
                    print(f"townhall: no account called {args.username!r} (sign up first)")
                    return 1
                user.operator = args.action == "add"
                print(f"@{user.username} is {'now' if user.operator else 'no longer'} an "
                      "operator")
                return 0
            problem, count, head = transparency.verify_database(db, args.head)
    finally:
        database.close()
    if problem is not None:
        print(f"BROKEN at entry {problem.seq}: {problem.detail} ({count} entries before it "
              "check)")
        return 1
    print(f"OK: {count} entries, head {head}")
    return 0

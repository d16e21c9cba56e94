"""Alembic environment for Townhall's schema (townhall/store/migrations).

Townhall runs it itself (townhall.store.migrate: at start and by `townhall db upgrade`),
handing over a connection already in a transaction under the schema lock. A developer's
`alembic` command (alembic.ini at the repository root) gets a connection made here from
`sqlalchemy.url` or, when that is empty, the server's own setting (TOWNHALL_DATABASE_URL
or the SQLite file in TOWNHALL_DATA_DIR)."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from townhall.store.migrate import include_name
from townhall.store.models import Base

# SQLite cannot ALTER most things: batch mode copies the table instead; autogenerate
# writes `with op.batch_alter_table(...)` so a migration runs on SQLite and PostgreSQL.
# The search objects (0007) are not in the models: include_name leaves them out.
OPTIONS = {"target_metadata": Base.metadata, "render_as_batch": True, "compare_type": True,
           "include_name": include_name}


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from townhall.config import Settings

    return Settings().db_url


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None and context.config.config_file_name:
        fileConfig(context.config.config_file_name)  # the developer's alembic.ini
    if connection is not None:
        context.configure(connection=connection, **OPTIONS)
        with context.begin_transaction():
            context.run_migrations()
    elif context.is_offline_mode():
        context.configure(url=_url(), literal_binds=True, **OPTIONS)
        with context.begin_transaction():
            context.run_migrations()
    else:
        engine = create_engine(_url(), poolclass=pool.NullPool)
        with engine.connect() as connection:
            context.configure(connection=connection, **OPTIONS)
            with context.begin_transaction():
                context.run_migrations()
        engine.dispose()


run()

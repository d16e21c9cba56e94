"""search: full-text indexes of Spaces (title, topics, description, host's names) and users

SQLite: FTS5 tables kept in sync by triggers (search_spaces, rowids from
search_space_rows since spaces.id is text; search_users, rowid = users.id). PostgreSQL: a
tsvector per Space in search_spaces (GIN), kept by triggers, and an expression GIN index
on users. Both are filled from the rows already stored. None of these objects are in the
models: townhall/store/migrate.py leaves names starting with "search_" out of the
models-versus-migrations comparison, and townhall/store/search.py queries them.

A later batch migration of `spaces` or `users` on SQLite (copy, drop, rename) drops the
triggers with the old table: it must create them again (SQLITE_TRIGGERS here).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# unicode61 without folding diacritics: the same words match as with PostgreSQL's
# 'simple' configuration (case-insensitive, no stemming, "café" is not "cafe").
# prefix: indexes for 2- and 3-letter prefixes, so search-as-you-type stays cheap.
_FTS = "tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3'"
_TOPICS = "(SELECT group_concat(value, ' ') FROM json_each({row}.topics))"
_HOST = "(SELECT u.display_name || ' ' || u.username FROM users u WHERE u.id = {row}.host_id)"
_ROW = "(SELECT r.id FROM search_space_rows r WHERE r.space_id = {row}.id)"

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER search_spaces_insert AFTER INSERT ON spaces BEGIN
        INSERT INTO search_space_rows (space_id) VALUES (new.id);
        INSERT INTO search_spaces (rowid, title, topics, description, host)
        VALUES ({_ROW.format(row='new')}, new.title, {_TOPICS.format(row='new')},
                new.description, {_HOST.format(row='new')});
    END""",
    f"""CREATE TRIGGER search_spaces_update
        AFTER UPDATE OF title, topics, description, host_id ON spaces BEGIN
        UPDATE search_spaces SET title = new.title, topics = {_TOPICS.format(row='new')},
            description = new.description, host = {_HOST.format(row='new')}
        WHERE rowid = {_ROW.format(row='new')};
    END""",
    f"""CREATE TRIGGER search_spaces_delete AFTER DELETE ON spaces BEGIN
        DELETE FROM search_spaces WHERE rowid = {_ROW.format(row='old')};
        DELETE FROM search_space_rows WHERE space_id = old.id;
    END""",
    """CREATE TRIGGER search_users_insert AFTER INSERT ON users BEGIN
        INSERT INTO search_users (rowid, username, display_name)
        VALUES (new.id, new.username, new.display_name);
    END""",
    """CREATE TRIGGER search_users_update AFTER UPDATE OF username, display_name ON users
    BEGIN
        UPDATE search_users SET username = new.username, display_name = new.display_name
        WHERE rowid = new.id;
        UPDATE search_spaces SET host = new.display_name || ' ' || new.username
        WHERE rowid IN (SELECT r.id FROM search_space_rows r
                        JOIN spaces s ON s.id = r.space_id WHERE s.host_id = new.id);
    END""",
    """CREATE TRIGGER search_users_delete AFTER DELETE ON users BEGIN
        DELETE FROM search_users WHERE rowid = old.id;
    END""",
)


def _sqlite_upgrade() -> None:
    op.execute("CREATE TABLE search_space_rows (id INTEGER PRIMARY KEY, "
               "space_id VARCHAR(16) NOT NULL UNIQUE)")
    op.execute(f"CREATE VIRTUAL TABLE search_spaces USING fts5("
               f"title, topics, description, host, {_FTS})")
    op.execute(f"CREATE VIRTUAL TABLE search_users USING fts5(username, display_name, {_FTS})")
    for trigger in SQLITE_TRIGGERS:
        op.execute(trigger)
    # The rows already stored.
    op.execute("INSERT INTO search_space_rows (space_id) SELECT id FROM spaces ORDER BY id")
    op.execute(f"""INSERT INTO search_spaces (rowid, title, topics, description, host)
        SELECT r.id, s.title, {_TOPICS.format(row='s')}, s.description,
               {_HOST.format(row='s')}
        FROM spaces s JOIN search_space_rows r ON r.space_id = s.id""")
    op.execute("INSERT INTO search_users (rowid, username, display_name) "
               "SELECT id, username, display_name FROM users")


# A Space's document: title (weight A), topics and the host's names (B), description (C).
PG_FUNCTIONS = (
    """CREATE FUNCTION search_space_document(title text, topics json, description text,
                                             host text) RETURNS tsvector
       LANGUAGE sql IMMUTABLE AS $$
         SELECT setweight(to_tsvector('simple', coalesce(title, '')), 'A')
             || setweight(to_tsvector('simple', coalesce(topics, '[]'::json)), 'B')
             || setweight(to_tsvector('simple', coalesce(host, '')), 'B')
             || setweight(to_tsvector('simple', coalesce(description, '')), 'C')
       $$""",
    """CREATE FUNCTION search_spaces_keep() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         INSERT INTO search_spaces (space_id, document)
         SELECT NEW.id, search_space_document(NEW.title, NEW.topics, NEW.description,
                                              u.display_name || ' ' || u.username)
         FROM users u WHERE u.id = NEW.host_id
         ON CONFLICT (space_id) DO UPDATE SET document = EXCLUDED.document;
         RETURN NULL;
       END $$""",
    """CREATE FUNCTION search_hosts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         UPDATE search_spaces d SET document = search_space_document(
             s.title, s.topics, s.description, NEW.display_name || ' ' || NEW.username)
         FROM spaces s WHERE s.host_id = NEW.id AND d.space_id = s.id;
         RETURN NULL;
       END $$""",
)
# The users' document (townhall/store/search.py repeats it, so the index is used).
PG_USER_DOCUMENT = ("(setweight(to_tsvector('simple'::regconfig, username), 'A') || "
                    "setweight(to_tsvector('simple'::regconfig, display_name), 'B'))")


def _postgresql_upgrade() -> None:
    op.execute("CREATE TABLE search_spaces (space_id VARCHAR(16) PRIMARY KEY "
               "REFERENCES spaces (id) ON DELETE CASCADE, document tsvector NOT NULL)")
    op.execute("CREATE INDEX search_spaces_document ON search_spaces USING gin (document)")
    op.execute(f"CREATE INDEX search_users ON users USING gin ({PG_USER_DOCUMENT})")
    for function in PG_FUNCTIONS:
        op.execute(function)
    op.execute("CREATE TRIGGER search_spaces_keep AFTER INSERT OR UPDATE OF title, topics, "
               "description, host_id ON spaces FOR EACH ROW EXECUTE FUNCTION search_spaces_keep()")
    op.execute("CREATE TRIGGER search_hosts_keep AFTER UPDATE OF username, display_name ON users "
               "FOR EACH ROW EXECUTE FUNCTION search_hosts_keep()")
    op.execute("""INSERT INTO search_spaces (space_id, document)
        SELECT s.id, search_space_document(s.title, s.topics, s.description,
                                           u.display_name || ' ' || u.username)
        FROM spaces s JOIN users u ON u.id = s.host_id""")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_upgrade()
    else:
        _postgresql_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("search_users_delete", "search_users_update", "search_users_insert",
                     "search_spaces_delete", "search_spaces_update", "search_spaces_insert"):
            op.execute(f"DROP TRIGGER {name}")
        for table in ("search_users", "search_spaces", "search_space_rows"):
            op.execute(f"DROP TABLE {table}")
    else:
        op.execute("DROP TRIGGER search_hosts_keep ON users")
        op.execute("DROP TRIGGER search_spaces_keep ON spaces")
        op.execute("DROP FUNCTION search_hosts_keep()")
        op.execute("DROP FUNCTION search_spaces_keep()")
        op.execute("DROP FUNCTION search_space_document(text, json, text, text)")
        op.execute("DROP INDEX search_users")
        op.execute("DROP TABLE search_spaces")

"""transcript search: a Space's final transcript (table transcripts) and its full-text
index, apart from the Space's own fields

The transcript is indexed on its own (SQLite: FTS5 table search_transcripts, rowids
from 0007's search_space_rows; PostgreSQL: a tsvector per Space in search_transcripts,
GIN), not as a fifth field of 0007's search_spaces: both bm25 and ts_rank normalise by
the whole document's length, so a long transcript in the same document would push its
Space's title match below another Space's description match. Kept by triggers on
transcripts; 0007's objects are untouched. townhall/store/search.py ranks Spaces found
by their fields first, as before, then those found only with their transcript's words.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# As 0007's (copied: migrations are frozen): the words match as in search_spaces.
_FTS = "tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3'"
_ROW = "(SELECT r.id FROM search_space_rows r WHERE r.space_id = {row})"

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER search_transcripts_insert AFTER INSERT ON transcripts BEGIN
        INSERT INTO search_transcripts (rowid, transcript)
        VALUES ({_ROW.format(row='new.space_id')}, new.text);
    END""",
    f"""CREATE TRIGGER search_transcripts_update AFTER UPDATE OF text ON transcripts BEGIN
        UPDATE search_transcripts SET transcript = new.text
        WHERE rowid = {_ROW.format(row='new.space_id')};
    END""",
    f"""CREATE TRIGGER search_transcripts_delete AFTER DELETE ON transcripts BEGIN
        DELETE FROM search_transcripts WHERE rowid = {_ROW.format(row='old.space_id')};
    END""",
    # Before 0007's search_spaces_delete frees the Space's rowid (it may be reused).
    f"""CREATE TRIGGER search_transcripts_space_delete BEFORE DELETE ON spaces BEGIN
        DELETE FROM search_transcripts WHERE rowid = {_ROW.format(row='old.id')};
    END""",
)
PG_FUNCTION = """CREATE FUNCTION search_transcripts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        DELETE FROM search_transcripts WHERE space_id = OLD.space_id;
      ELSE
        INSERT INTO search_transcripts (space_id, document)
        VALUES (NEW.space_id, setweight(to_tsvector('simple', NEW.text), 'D'))
        ON CONFLICT (space_id) DO UPDATE SET document = EXCLUDED.document;
      END IF;
      RETURN NULL;
    END $$"""


def upgrade() -> None:
    # A new table only: users and spaces (and 0007's triggers on them) stay as they are.
    op.create_table(
        "transcripts",
        sa.Column("space_id", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("space_id"),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"CREATE VIRTUAL TABLE search_transcripts USING fts5(transcript, {_FTS})")
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
    else:
        op.execute("CREATE TABLE search_transcripts (space_id VARCHAR(16) PRIMARY KEY "
                   "REFERENCES spaces (id) ON DELETE CASCADE, document tsvector NOT NULL)")
        op.execute("CREATE INDEX search_transcripts_document ON search_transcripts "
                   "USING gin (document)")
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER search_transcripts_keep AFTER INSERT OR DELETE OR UPDATE "
                   "OF text ON transcripts FOR EACH ROW EXECUTE FUNCTION search_transcripts_keep()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("search_transcripts_space_delete", "search_transcripts_delete",
                     "search_transcripts_update", "search_transcripts_insert"):
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE search_transcripts")
    else:
        op.execute("DROP TRIGGER search_transcripts_keep ON transcripts")
        op.execute("DROP FUNCTION search_transcripts_keep()")
        op.execute("DROP TABLE search_transcripts")
    op.drop_table("transcripts")

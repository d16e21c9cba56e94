"""moderation: operators, suspensions, reports, appeals, the public transparency log

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Columns added in place (no table copy): 0007's search triggers on users and spaces
    # stay as they are.
    op.add_column("users", sa.Column("operator", sa.Boolean(), nullable=False,
                                     server_default=sa.false()))
    op.add_column("users", sa.Column("suspension", sa.Integer(), nullable=True))
    op.add_column("users", sa.Column("suspended_until", sa.DateTime(), nullable=True))
    op.add_column("spaces", sa.Column("taken_down", sa.Integer(), nullable=True))
    op.create_table(
        "transparency_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=True),
        sa.Column("until", sa.String(length=20), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
    )
    op.create_table(
        "moderation_notes",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("space_id", sa.String(length=16), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(["seq"], ["transparency_log.seq"]),
        sa.ForeignKeyConstraint(["operator_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"]),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_moderation_notes_user_id", "moderation_notes", ["user_id"])
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("space_id", sa.String(length=16), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("entry", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["reporter_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reports_status", "reports", ["status"])
    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.Integer(), nullable=True),
        sa.Column("reply", sa.String(length=1000), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["entry"], ["transparency_log.seq"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry"),
    )
    op.create_index("ix_appeals_status", "appeals", ["status"])
    op.create_index("ix_appeals_user_id", "appeals", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_appeals_user_id", table_name="appeals")
    op.drop_index("ix_appeals_status", table_name="appeals")
    op.drop_table("appeals")
    op.drop_index("ix_reports_status", table_name="reports")
    op.drop_table("reports")
    op.drop_index("ix_moderation_notes_user_id", table_name="moderation_notes")
    op.drop_table("moderation_notes")
    op.drop_table("transparency_log")
    # In place (a table copy would trip 0007's search triggers).
    op.execute("ALTER TABLE spaces DROP COLUMN taken_down")
    op.execute("ALTER TABLE users DROP COLUMN suspended_until")
    op.execute("ALTER TABLE users DROP COLUMN suspension")
    op.execute("ALTER TABLE users DROP COLUMN operator")

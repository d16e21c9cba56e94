"""Baseline: the schema before private Spaces

Users, sessions, Spaces (with audience figures), host blocks, reminders, invites and
WHIP tokens. A database made by `create_all` before migrations existed and without
spaces.private is stamped at this revision (townhall.store.migrate.legacy_revision),
then upgraded.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Lengths are those of townhall/limits.py at the time, written out: a migration is
    # frozen, a later change of a limit needs a migration of its own.
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "host_blocks",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("host_id", "user_id"),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_table(
        "spaces",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=140), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("room", sa.JSON(), nullable=False),
        sa.Column("pinned_url", sa.String(length=2000), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("scheduled_start", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["host_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_spaces_host_id", "spaces", ["host_id"])
    op.create_index("ix_spaces_scheduled_start", "spaces", ["scheduled_start"])
    op.create_index("ix_spaces_state", "spaces", ["state"])
    op.create_table(
        "invites",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("space_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"]),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index("ix_invites_space_id", "invites", ["space_id"])
    op.create_table(
        "reminders",
        sa.Column("space_id", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("space_id", "user_id"),
    )
    op.create_index("ix_reminders_user_id", "reminders", ["user_id"])
    op.create_table(
        "whip_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("space_id", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_whip_tokens_space_id", "whip_tokens", ["space_id"])


def downgrade() -> None:
    for table in ("whip_tokens", "reminders", "invites", "spaces", "sessions", "host_blocks",
                  "users"):
        op.drop_table(table)

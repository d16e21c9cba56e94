"""Profiles: users.display_name, users.bio, users.avatar_version; the avatars table

People recognise each other: a display name and a bio (empty for existing users) and an
uploaded avatar, stored decoded and resized in its own table (every origin of a cluster
serves it from the shared database).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Lengths are those of townhall/limits.py at the time, written out (a migration is
    # frozen). SQLite adds columns in place; the server default fills existing rows.
    op.add_column("users", sa.Column("display_name", sa.String(length=50), nullable=False,
                                     server_default=""))
    op.add_column("users", sa.Column("bio", sa.String(length=160), nullable=False,
                                     server_default=""))
    op.add_column("users", sa.Column("avatar_version", sa.String(length=32), nullable=True))
    op.create_table(
        "avatars",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("large", sa.LargeBinary(), nullable=False),
        sa.Column("small", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("avatars")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("avatar_version")
        batch_op.drop_column("bio")
        batch_op.drop_column("display_name")

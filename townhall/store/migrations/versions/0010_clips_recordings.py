"""clips and recordings: a clip's stretch and maker; a recording's trim, deletion and
expiry notice

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New tables only: users and spaces (and 0007's search triggers) stay as they are.
    op.create_table(
        "recordings",
        sa.Column("space_id", sa.String(length=16), nullable=False),
        sa.Column("trim_start", sa.Double(), nullable=False),
        sa.Column("trim_end", sa.Double(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("deleted_by", sa.String(length=16), nullable=True),
        sa.Column("expiry_notified_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"]),
        sa.PrimaryKeyConstraint("space_id"),
    )
    op.create_table(
        "clips",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("space_id", sa.String(length=16), nullable=False),
        sa.Column("maker_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("end", sa.Double(), nullable=False),
        sa.Column("title", sa.String(length=140), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["maker_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_clips_space_id", "clips", ["space_id"])
    op.create_index("ix_clips_maker_id", "clips", ["maker_id"])


def downgrade() -> None:
    op.drop_index("ix_clips_maker_id", table_name="clips")
    op.drop_index("ix_clips_space_id", table_name="clips")
    op.drop_table("clips")
    op.drop_table("recordings")

"""space_members: who belongs to each Space besides its host, for the lists

Lists read private Spaces only where the viewer is host or member, instead of every
private Space's Room. Filled from the Rooms already stored.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The Room's lists whose people may see a private Space (townhall/store/rooms.py members).
MEMBER_LISTS = ("cohosts", "speakers", "invited", "guests")


def upgrade() -> None:
    members = op.create_table(
        "space_members",
        sa.Column("space_id", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("space_id", "user_id"),
    )
    op.create_index("ix_space_members_user_id", "space_members", ["user_id"])
    bind = op.get_bind()
    users = set(bind.execute(sa.text("SELECT id FROM users")).scalars())
    rows = []
    for space_id, room in bind.execute(sa.text("SELECT id, room FROM spaces")):
        room = json.loads(room) if isinstance(room, str) else (room or {})
        ids = {int(u) for name in MEMBER_LISTS for u in room.get(name, ())}
        rows += [{"space_id": space_id, "user_id": u} for u in sorted(ids & users)]
    if rows:
        op.bulk_insert(members, rows)


def downgrade() -> None:
    op.drop_index("ix_space_members_user_id", table_name="space_members")
    op.drop_table("space_members")

"""Private Spaces: spaces.private

Invite-only listening; existing Spaces are public (false).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite adds a column in place (no batch copy needed). The server default fills the
    # rows that exist; the model gives new rows their value.
    op.add_column("spaces", sa.Column("private", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("spaces") as batch_op:
        batch_op.drop_column("private")

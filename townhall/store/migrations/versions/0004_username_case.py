"""Usernames are unique whatever their case: a unique index on lower(username)

`Host1` and `HOST1` were two accounts that look the same to people. Existing databases
holding two names that differ only in case must rename one before upgrading (the index
cannot be built over them).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    clashes = op.get_bind().execute(sa.text(
        "SELECT lower(username) FROM users GROUP BY lower(username) HAVING count(*) > 1 "
        "LIMIT 5")).scalars().all()
    if clashes:
        raise RuntimeError(
            "these usernames differ only in case, which 0004 no longer allows: rename all "
            f"but one of each, then start again: {', '.join(clashes)}")
    op.create_index("ix_users_username_folded", "users", [sa.text("lower(username)")], unique=True)


def downgrade() -> None:
    op.drop_index("ix_users_username_folded", table_name="users")

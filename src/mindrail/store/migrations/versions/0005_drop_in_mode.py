"""drop-in mode: consent attested per API key, thread heads on conversations

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_version", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("consent_attested_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thread_head", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_conversations_thread_head"), ["thread_head"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversations_thread_head"))
        batch_op.drop_column("thread_head")

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("consent_attested_at")
        batch_op.drop_column("consent_version")

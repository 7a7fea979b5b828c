"""practice sessions and trainers' comments (sealed turns, reports and comments)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 00:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "practice_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("trainee", sa.String(length=64), nullable=False),
        sa.Column("card_id", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("feedback_on", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.String(length=16), nullable=True),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("turns_enc", sa.LargeBinary(), nullable=False),
        sa.Column("report_enc", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("practice_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_practice_sessions_trainee"), ["trainee"], unique=False)
    op.create_table(
        "practice_comments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text_enc", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["practice_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("practice_comments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_practice_comments_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("practice_comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_practice_comments_session_id"))
    op.drop_table("practice_comments")
    with op.batch_alter_table("practice_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_practice_sessions_trainee"))
    op.drop_table("practice_sessions")

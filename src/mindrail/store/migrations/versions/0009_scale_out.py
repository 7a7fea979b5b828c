"""several gateway instances on one database: the job table, turns' idempotency keys, review items' SLA mark,
console login attempts (the per-client rate limit, shared)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


GENESIS = "0" * 64


def upgrade() -> None:
    # The audit head row exists before the first event: appends lock it, and a row that does not exist yet cannot
    # be locked, so two instances appending the very first events would both try to create it.
    op.execute(
        sa.text(
            "INSERT INTO audit_head (id, seq, hash) SELECT 1, 0, :g WHERE NOT EXISTS (SELECT 1 FROM audit_head)"
        ).bindparams(g=GENESIS)
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(length=96), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_due", ["status", "run_after"], unique=False)
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_key", sa.String(length=64), nullable=True))
        batch_op.create_index("ux_turns_request_key", ["conversation_id", "request_key"], unique=True)
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_login_attempts_client_at", ["client_hash", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempts_client_at")
    op.drop_table("login_attempts")
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.drop_column("overdue_at")
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.drop_index("ux_turns_request_key")
        batch_op.drop_column("request_key")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_due")
    op.drop_table("jobs")

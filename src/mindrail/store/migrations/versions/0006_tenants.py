"""tenants: api_keys.tenant, conversations.tenant, audit_events.tenant, staff_grants

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 09:00:00.000000

Existing data keeps the isolation it already had (see docs/gateway.md, "Tenants"): each existing key becomes its
own tenant (its id), each conversation takes the tenant of the key that started it ("chat-page" for the chat
page, "default" for none), and every existing staff user is granted all tenants ("*"), so an install that had one
app and its staff sees exactly what it saw before. Audit events are not back-filled: their hashes cover what they
held when written.

The columns are added with a server default and filled in place, never by rebuilding a table: on SQLite a rebuild
of ``conversations`` would drop the old table, and with foreign keys on that cascades to every turn.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in ("api_keys", "conversations"):
        op.add_column(table, sa.Column("tenant", sa.String(length=64), nullable=False, server_default="default"))
    op.execute("UPDATE api_keys SET tenant = id")
    op.execute(
        "UPDATE conversations SET tenant = COALESCE("
        "(SELECT api_keys.tenant FROM api_keys WHERE api_keys.id = conversations.client), "
        "conversations.client, 'default')"
    )
    if not sqlite:  # SQLite cannot drop a default without a rebuild; the code always sets the tenant
        for table in ("api_keys", "conversations"):
            op.alter_column(table, "tenant", server_default=None, existing_type=sa.String(length=64))
    op.create_index(op.f("ix_api_keys_tenant"), "api_keys", ["tenant"], unique=False)
    op.create_index(op.f("ix_conversations_tenant"), "conversations", ["tenant"], unique=False)

    op.add_column("audit_events", sa.Column("tenant", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_audit_events_tenant"), "audit_events", ["tenant"], unique=False)

    op.create_table(
        "staff_grants",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["staff_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "tenant"),
    )
    op.execute(
        "INSERT INTO staff_grants (user_id, tenant, granted_at) SELECT id, '*', CURRENT_TIMESTAMP FROM staff_users"
    )


def downgrade() -> None:
    op.drop_table("staff_grants")
    op.drop_index(op.f("ix_audit_events_tenant"), table_name="audit_events")
    op.drop_index(op.f("ix_conversations_tenant"), table_name="conversations")
    op.drop_index(op.f("ix_api_keys_tenant"), table_name="api_keys")
    for table in ("audit_events", "conversations", "api_keys"):
        op.drop_column(table, "tenant")  # in place: SQLite has had DROP COLUMN since 3.35

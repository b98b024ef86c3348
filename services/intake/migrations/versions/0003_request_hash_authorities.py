"""Request hashes for idempotency conflicts; registered authorities (orders, law enforcement).

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "intake"


def upgrade() -> None:
    op.add_column(
        "reports",
        sa.Column(
            "request_hash",
            sa.Text,
            comment="SHA-256 of the canonical notice; a reused Idempotency-Key must match it",
        ),
        schema=S,
    )
    op.add_column(
        "reports",
        sa.Column("authority_id", sa.Text, comment="the registered authority of an order"),
        schema=S,
    )
    op.create_table(
        "authorities",
        sa.Column("authority_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("client_id", sa.Text, comment="notices from this client are the authority's"),
        sa.Column("key_id", sa.Text, comment="or only those sent with this API key"),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("removed_at", sa.DateTime(timezone=True)),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("authorities", schema=S)
    op.drop_column("reports", "authority_id", schema=S)
    op.drop_column("reports", "request_hash", schema=S)

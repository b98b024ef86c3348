"""Registered sources have a kind: legal order, law enforcement, regulator or advertiser.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "intake"


def upgrade() -> None:
    op.add_column(
        "authorities",
        sa.Column(
            "kind",
            sa.Text,
            nullable=False,
            server_default="legal_order",
            comment="legal_order | law_enforcement | regulator | advertiser",
        ),
        schema=S,
    )
    op.create_check_constraint(
        "ck_authorities_kind",
        "authorities",
        "kind IN ('legal_order', 'law_enforcement', 'regulator', 'advertiser')",
        schema=S,
    )


def downgrade() -> None:
    op.drop_column("authorities", "kind", schema=S)

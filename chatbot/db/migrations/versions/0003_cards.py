"""cards: the text of each box of a post's card (the card file is derived, not stored)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("card_fields", sa.JSON(), nullable=True))
        batch.drop_column("media_path")


def downgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("media_path", sa.Text(), nullable=True))
        batch.drop_column("card_fields")

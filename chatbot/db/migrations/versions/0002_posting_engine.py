"""posting engine: held posts, send and retry times, reconciliation count

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

import chatbot.db.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("held", sa.Boolean(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("sent_at", chatbot.db.models.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("next_attempt_at", chatbot.db.models.UTCDateTime(), nullable=True)
        )
        batch.add_column(
            sa.Column("reconcile_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.create_index("ix_posts_held_state", ["held", "state"])


def downgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.drop_index("ix_posts_held_state")
        batch.drop_column("reconcile_count")
        batch.drop_column("next_attempt_at")
        batch.drop_column("sent_at")
        batch.drop_column("held")

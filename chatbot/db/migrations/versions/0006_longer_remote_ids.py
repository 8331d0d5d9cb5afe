"""longer remote ids: a Bluesky post's id is its AT URI (at://did/collection/rkey)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.alter_column(
            "remote_id", type_=sa.String(512), existing_type=sa.String(64), existing_nullable=True
        )
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column(
            "remote_user_id",
            type_=sa.String(255),
            existing_type=sa.String(64),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("remote_user_id", type_=sa.String(64), existing_type=sa.String(255))
    with op.batch_alter_table("posts") as batch:
        batch.alter_column("remote_id", type_=sa.String(64), existing_type=sa.String(512))

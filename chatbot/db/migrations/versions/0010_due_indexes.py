"""indexes a worker's cycle reads due posts by: originals and dependents (reposts, partners'
own words) apart, each in the order they are sent, so a cycle reads the few it sends and not
every due row (a burst of 10,000 due posts was sorted, and every queued post scanned for
dependents, on every cycle)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ORIGINALS = sa.text("depends_on_id IS NULL")
DEPENDENTS = sa.text("depends_on_id IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_posts_due_originals",
        "posts",
        ["state", "scheduled_at", "seq", "id"],
        sqlite_where=ORIGINALS,
        postgresql_where=ORIGINALS,
    )
    op.create_index(
        "ix_posts_due_dependents",
        "posts",
        ["state", "scheduled_at", "id"],
        sqlite_where=DEPENDENTS,
        postgresql_where=DEPENDENTS,
    )


def downgrade() -> None:
    op.drop_index("ix_posts_due_dependents", "posts")
    op.drop_index("ix_posts_due_originals", "posts")

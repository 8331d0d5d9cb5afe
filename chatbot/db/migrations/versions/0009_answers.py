"""a chat's answers: participants' posts (purged), counts per question (kept), what each
platform's reading has reached; the follow options of a chat; a host action's remote target

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chat_key", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("remote_id", sa.String(512), nullable=False),
        sa.Column("question", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("chat_key", "platform", "remote_id", name="uq_answers_remote"),
    )
    op.create_index("ix_answers_chat_seen", "answers", ["chat_key", "seen_at"])
    op.create_table(
        "answer_counts",
        sa.Column("chat_key", sa.String(64), primary_key=True),
        sa.Column("question", sa.Integer(), primary_key=True),  # 0: not placed
        sa.Column("platform", sa.String(16), primary_key=True),
        sa.Column("answers", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "answer_sources",
        sa.Column("chat_key", sa.String(64), primary_key=True),
        sa.Column("platform", sa.String(16), primary_key=True),
        sa.Column("account_key", sa.String(64), nullable=False),
        sa.Column("since_id", sa.String(512), nullable=True),
        sa.Column("reads", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("mode", sa.String(16), nullable=False, server_default="polling"),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("retry_at", sa.DateTime(), nullable=True),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.Column("purged_at", sa.DateTime(), nullable=True),
    )
    op.add_column("chats", sa.Column("follow", sa.JSON(), nullable=True))
    op.add_column("posts", sa.Column("target_remote_id", sa.String(512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("target_remote_id")
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("follow")
    op.drop_table("answer_sources")
    op.drop_table("answer_counts")
    op.drop_index("ix_answers_chat_seen", "answers")
    op.drop_table("answers")

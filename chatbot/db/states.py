"""A post's states, in a module of their own: the short commands that read the queue without
SQLAlchemy (``chatbot.db.direct``) need them without loading the models."""

from __future__ import annotations

import enum


class PostState(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    QUEUED = "queued"
    SENDING = "sending"
    POSTED = "posted"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


# States in which a post may already exist on the platform: apply never changes these.
SENT_STATES = frozenset({PostState.SENDING, PostState.POSTED, PostState.UNKNOWN})
# Posts that were (or may have been) sent, and so were (or may have been) paid for.
SPEND_STATES = (PostState.POSTED, PostState.SENDING, PostState.UNKNOWN)

"""A partner opting its account out of one post (or back in) before it goes out.

An opt-out is a skip with a reason that says so: `apply` leaves skipped posts alone, so the
choice survives re-applying the content, and opting back in restores the post's review state.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from chatbot.db.audit import audit
from chatbot.db.models import Post, PostState
from chatbot.queue.live import PENDING
from chatbot.queue.review import is_approved

_REASON = "opted out by "


def is_opted_out(post: Post) -> bool:
    return post.state == PostState.SKIPPED and (post.state_reason or "").startswith(_REASON)


def opt_out(session: Session, post: Post, by: str, now: datetime) -> bool:
    """Returns False (changing nothing) unless the post is still waiting to go out."""
    if post.state not in PENDING:
        return False
    post.state = PostState.SKIPPED
    post.state_reason = _REASON + by
    post.updated_at = now
    audit(session, now, by, "post.opt_out", post.key)
    return True


def opt_in(session: Session, post: Post, by: str, now: datetime) -> bool:
    """Returns False (changing nothing) unless the post was opted out."""
    if not is_opted_out(post):
        return False
    post.state = PostState.APPROVED if is_approved(session, post) else PostState.DRAFT
    post.state_reason = None
    post.updated_at = now
    audit(session, now, by, "post.opt_in", post.key)
    return True

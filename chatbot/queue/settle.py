"""Settling a post a person must decide on: it did go out (with its URL), retry it, or cancel.

Shared by `chatbot settle` and the web app's "needs attention" page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from chatbot.db.audit import audit
from chatbot.db.models import Post, PostState
from chatbot.errors import UserError
from chatbot.platforms import platform_named

SettleAction = Literal["posted", "retry", "cancel"]


def needs_settling(post: Post) -> bool:
    return post.state in (PostState.FAILED, PostState.UNKNOWN) or post.held


def settle(
    session: Session,
    post: Post,
    action: SettleAction,
    by: str,
    now: datetime,
    posted_url: str | None = None,
) -> str:
    """Apply the decision in the caller's transaction; returns what was done, for display."""
    if not needs_settling(post):
        raise UserError(
            f"{post.key} is {post.state}; only failed, unknown or held posts need settling"
        )
    if action == "posted":
        url = (posted_url or "").strip()
        if not url.startswith(("https://", "http://")):
            raise UserError("give the post's URL, e.g. https://x.com/libraryfreedom/status/1234")
        post.state = PostState.POSTED
        post.remote_url = url
        post.remote_id = platform_named(post.platform).remote_id_from_url(url)
        post.posted_at = post.posted_at or now
        reason = f"marked posted by {by}"
    elif action == "retry":
        post.state = PostState.QUEUED
        post.next_attempt_at = None
        post.reconcile_count = 0
        reason = f"retry requested by {by}"
    else:
        post.state = PostState.CANCELLED
        reason = f"cancelled by {by}"
    post.held = False
    post.state_reason = reason
    post.updated_at = now
    audit(session, now, by, f"settle.{action}", post.key)
    return reason

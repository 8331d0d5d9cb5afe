"""API cost estimates from the configured prices (the registry knows each platform's: X
charges far more for posts with links), and what was spent this month."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chatbot.db.models import Post
from chatbot.db.states import SPEND_STATES
from chatbot.platforms import platform_named
from chatbot.settings import Platforms
from chatbot.timeutil import month_start

__all__ = ["SPEND_STATES", "estimate_cost", "month_spend"]


def estimate_cost(platform: str, kind: str, text: str, has_media: bool, prices: Platforms) -> float:
    return platform_named(platform).cost(kind, text, has_media, prices)


def month_spend(session: Session, account: str, now: datetime) -> float:
    """Estimated API spend of ``account`` this calendar month (UTC), by when posts were sent.

    The worker's budget check and ``chatbot status`` both use this, so they always agree.
    """
    return float(
        session.scalar(
            select(func.coalesce(func.sum(Post.estimated_cost), 0.0)).where(
                Post.account_key == account,
                Post.state.in_(SPEND_STATES),
                Post.sent_at >= month_start(now),
            )
        )
        or 0.0
    )

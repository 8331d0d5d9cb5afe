"""API cost estimates from the configured prices (X charges far more for posts with links)."""

from __future__ import annotations

from chatbot.settings import Platforms
from chatbot.text import urls_in


def estimate_cost(platform: str, kind: str, text: str, has_media: bool, prices: Platforms) -> float:
    if platform != "x":
        return 0.0
    x = prices.x
    if kind == "repost":
        return x.price_repost
    cost = x.price_post_with_link if urls_in(text) else x.price_post
    if has_media:
        cost += x.price_media
    return cost

"""Review of content against the organisation's vision: a small Vale-like rule engine."""

from chatbot.vision.base import Finding, Level
from chatbot.vision.engine import Review, load_rules, review

__all__ = ["Finding", "Level", "Review", "load_rules", "review"]

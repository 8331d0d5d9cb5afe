"""Which question an answer belongs to.

A reply to Qn belongs to n; so does a post that starts with ``An`` or ``A n`` (after any
leading @mentions, which replies carry on X and Mastodon); anything else belongs to the last
question posted before it (on its platform). An answer before Q1 is not placed (None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from chatbot.publishers.base import FoundPost

_LEADING_MENTIONS = re.compile(r"^\s*(?:[@＠][\w.@-]+\s+)*")
_ANSWER_NUMBER = re.compile(r"A\s?(\d{1,2})(?![\d\w])", re.IGNORECASE)


@dataclass(frozen=True)
class Question:
    number: int
    platform: str
    remote_id: str | None
    posted_at: datetime | None


def numbered(text: str, questions: int) -> int | None:
    """``A3 ...``, ``a 3: ...``, ``@host A3 ...`` -> 3, when the chat has a third question."""
    rest = text[_LEADING_MENTIONS.match(text).end() :]  # type: ignore[union-attr]
    match = _ANSWER_NUMBER.match(rest)
    if match is None:
        return None
    number = int(match.group(1))
    return number if 1 <= number <= questions else None


def place(post: FoundPost, platform: str, questions: list[Question]) -> int | None:
    """The question ``post`` answers, or None when it cannot be placed."""
    if post.reply_to is not None:
        for question in questions:
            if question.remote_id == post.reply_to:
                return question.number
    count = max((q.number for q in questions), default=0)
    number = numbered(post.text, count)
    if number is not None:
        return number
    if post.created_at is None:
        return None
    before = [
        q
        for q in questions
        if q.platform == platform and q.posted_at is not None and q.posted_at <= post.created_at
    ]
    return max(before, key=lambda q: (q.posted_at, q.number)).number if before else None

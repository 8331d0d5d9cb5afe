"""The kinds of post a chat's script is made of, in a module of its own: the live controls and
the worker need them without loading the content models (pydantic builds them at import)."""

from __future__ import annotations

CHAT_KINDS: tuple[str, ...] = ("intro", "question", "outro")

# A host's actions on a participant's answer, made from the console: queued as posts so they go
# through the same exactly-once engine, but never part of the content (apply leaves them alone).
ACTION_KINDS: tuple[str, ...] = ("answer-reply", "answer-repost", "answer-like")

"""The kinds of post a chat's script is made of, in a module of its own: the live controls and
the worker need them without loading the content models (pydantic builds them at import)."""

from __future__ import annotations

CHAT_KINDS: tuple[str, ...] = ("intro", "question", "outro")

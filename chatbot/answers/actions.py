"""A host's one-click actions on an answer: like, repost, reply.

Each is queued as a post of the host's account on the answer's platform, approved by the click
itself (the audit log says so), and sent by the posting engine like any other post: exactly
once, retried only when nothing went out. A reply is checked first (length and the vision
rules, as ``chatbot check`` would); one that fails is refused with the findings and nothing is
queued. Clicking like or repost twice queues one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chatbot.answers import store
from chatbot.config import Config
from chatbot.db.audit import audit
from chatbot.db.models import Answer, Approval, Post, PostState
from chatbot.errors import UserError
from chatbot.platforms import platform_named

Action = Literal["like", "repost", "reply"]
ACTIONS: tuple[Action, ...] = ("like", "repost", "reply")


class ActionError(UserError):
    """The action cannot be taken; nothing was queued."""


@dataclass(frozen=True)
class ActionResult:
    post_key: str
    queued: bool
    message: str


def can_like(platform: str) -> bool:
    return platform_named(platform).likes


def _check_reply(
    config: Config, key: str, account: str, platform: str, text: str, now: datetime
) -> None:
    """Length and the vision rules on the reply alone, as ``chatbot check`` would run them;
    raises with what to fix."""
    from chatbot.content.load import ContentSet, vision_file
    from chatbot.content.model import PostSpec, Source
    from chatbot.vision import review

    spec = PostSpec(
        key=key,
        account=account,
        platform=platform,
        kind="campaign",
        text=text,
        scheduled_at=now,
        source=Source(Path("console"), 1, 1),
    )
    content = ContentSet(posts=[spec], vision_path=vision_file(config.content_dir))
    result = review(content, config.settings.platforms)
    errors = [f for f in result.findings if f.level == "error"]
    if errors or result.errors:
        problems = [f"{f.rule_id}: {f.message}" for f in errors] + [str(e) for e in result.errors]
        raise ActionError("the reply was not sent; fix it first: " + "; ".join(problems))


def act(
    session: Session,
    config: Config,
    answer_id: int,
    action: str,
    by: str,
    now: datetime,
    text: str = "",
) -> ActionResult:
    if action not in ACTIONS:
        raise ActionError(f"unknown action {action!r}: use like, repost or reply")
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise ActionError("that answer is no longer held (answers are purged after the chat)")
    followed = store.chats(session, config.settings, [answer.chat_key])
    account = followed[0].hosts.get(answer.platform) if followed else None
    if account is None:
        raise ActionError(f"the chat has no host account on {answer.platform}")
    label = platform_named(answer.platform).label
    if action == "like" and not can_like(answer.platform):
        raise ActionError(f"{label} removed likes from its API on 2026-04-20; like it on {label}")
    base = f"answer/{answer.chat_key}/{answer.platform}/{answer.remote_id}/{action}"
    kind = f"answer-{action}"
    text = text.strip()
    if action == "reply":
        if not text:
            raise ActionError("write the reply first")
        replies = session.scalar(select(func.count(Post.id)).where(Post.key.like(f"{base}/%")))
        key = f"{base}/{(replies or 0) + 1}"
        _check_reply(config, key, account, answer.platform, text, now)
    else:
        key, text = base, ""
        existing = session.scalar(select(Post).where(Post.key == key))
        if existing is not None:
            done = {"like": "liked", "repost": "reposted"}[action]
            return ActionResult(key, False, f"already {done} ({existing.state})")
    from chatbot.queue.cost import estimate_cost

    cost = estimate_cost(
        answer.platform,
        "repost" if action == "repost" else kind,
        text,
        False,
        config.settings.platforms,
    )
    content_hash = hashlib.sha256(f"{account}\x1f{kind}\x1f{text}\x1f{answer.remote_id}".encode())
    post = Post(
        key=key,
        account_key=account,
        platform=answer.platform,
        kind=kind,
        text=text,
        scheduled_at=now,
        planned_at=now,
        content_hash=content_hash.hexdigest(),
        state=PostState.APPROVED,
        target_remote_id=answer.remote_id,
        estimated_cost=cost,
        edited_by=by,
        source_path="console",
        created_at=now,
        updated_at=now,
    )
    session.add(post)
    session.flush()
    note = "approved by the host's click in the live console"
    session.add(
        Approval(
            post_id=post.id,
            content_hash=post.content_hash,
            decision="approved",
            by=by,
            note=note,
            target=key,
            at=now,
        )
    )
    audit(
        session,
        now,
        by,
        f"answer.{action}",
        key,
        approval="the host's click",
        chat=answer.chat_key,
        platform=answer.platform,
    )
    return ActionResult(key, True, f"{action} queued from {account}: it goes out in a moment")

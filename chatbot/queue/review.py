"""Human review: approving or rejecting a chat, a campaign or one post.

An approval records who, when, a note and the content hash approved. It is valid only while the
post's hash is unchanged and no later rejection exists; ``apply`` voids it on any edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from chatbot.db.audit import audit
from chatbot.db.models import Approval, Post, PostState
from chatbot.errors import UserError
from chatbot.vision import Review

REVIEWABLE = frozenset({PostState.DRAFT, PostState.APPROVED, PostState.QUEUED, PostState.FAILED})


@dataclass
class ReviewResult:
    item: str
    changed: list[Post] = field(default_factory=list)
    unchanged: list[Post] = field(default_factory=list)


def resolve_item(session: Session, item: str) -> list[Post]:
    """Posts named by ITEM: a chat id, a campaign id, a post key or a numeric post id."""
    query = select(Post).where(
        or_(Post.chat_key == item, Post.campaign_key == item, Post.key == item)
    )
    if item.isdigit():
        query = select(Post).where(Post.id == int(item))
    posts = list(session.scalars(query.order_by(Post.scheduled_at, Post.seq, Post.key)))
    if not posts:
        raise UserError(
            f"nothing called {item!r} in the queue; use a chat or campaign id (see chatbot "
            "status) or a post key like fr-chat/q3, and run chatbot apply first"
        )
    return posts


def current_decision(session: Session, post: Post) -> Approval | None:
    """The newest non-voided decision for the post's current content, if any."""
    return session.scalars(
        select(Approval)
        .where(
            Approval.post_id == post.id,
            Approval.voided_at.is_(None),
            Approval.content_hash == post.content_hash,
        )
        .order_by(Approval.at.desc(), Approval.id.desc())
        .limit(1)
    ).first()


def is_approved(session: Session, post: Post) -> bool:
    decision = current_decision(session, post)
    return decision is not None and decision.decision == "approved"


def approve(
    session: Session,
    item: str,
    by: str,
    note: str,
    now: datetime,
    checks: Review | None = None,
    content_hashes: dict[str, str] | None = None,
    require_second_person: bool = False,
) -> ReviewResult:
    """Approve every reviewable post of ITEM; refuses the lot if any one cannot be approved."""
    by = _name(by)
    posts = _reviewable(session, item, "approve")
    problems: list[str] = []
    if checks is not None and checks.errors:
        # Content that does not load cannot be reviewed: fix it first (chatbot check).
        problems.extend(str(err) for err in checks.errors)
    for post in posts:
        if content_hashes is not None and content_hashes.get(post.key) != post.content_hash:
            problems.append(
                f"{post.key}: the content files differ from the queue; run chatbot apply first"
            )
        if checks is not None:
            for finding in checks.blocking(post.key):
                problems.append(f"{post.key}: {finding.rule_id}: {finding.message}")
        if require_second_person and post.edited_by and post.edited_by == by:
            problems.append(f"{post.key}: {by} made the last edit; another person must approve it")
    if problems:
        raise UserError(f"{item} not approved:\n  " + "\n  ".join(problems))
    result = ReviewResult(item)
    for post in posts:
        if is_approved(session, post):
            result.unchanged.append(post)
            continue
        session.add(
            Approval(
                post_id=post.id,
                content_hash=post.content_hash,
                decision="approved",
                by=by,
                note=note,
                target=item,
                at=now,
            )
        )
        if post.state in (PostState.DRAFT, PostState.FAILED):
            post.state = PostState.APPROVED
            post.state_reason = None
            post.updated_at = now
        result.changed.append(post)
    if result.changed:
        audit(session, now, by, "approve", item, posts=len(result.changed), note=note)
    return result


def reject(session: Session, item: str, by: str, note: str, now: datetime) -> ReviewResult:
    by = _name(by)
    if not note.strip():
        raise UserError("a rejection needs --note saying what to change")
    posts = _reviewable(session, item, "reject")
    result = ReviewResult(item)
    for post in posts:
        decision = current_decision(session, post)
        if decision is not None and decision.decision == "rejected" and decision.note == note:
            result.unchanged.append(post)
            continue
        for old in session.scalars(
            select(Approval).where(Approval.post_id == post.id, Approval.voided_at.is_(None))
        ):
            old.voided_at = now
            old.voided_reason = f"rejected by {by}"
        session.add(
            Approval(
                post_id=post.id,
                content_hash=post.content_hash,
                decision="rejected",
                by=by,
                note=note,
                target=item,
                at=now,
            )
        )
        post.state = PostState.DRAFT
        post.state_reason = f"rejected by {by}: {note}"
        post.updated_at = now
        result.changed.append(post)
    if result.changed:
        audit(session, now, by, "reject", item, posts=len(result.changed), note=note)
    return result


def _reviewable(session: Session, item: str, verb: str) -> list[Post]:
    posts = [p for p in resolve_item(session, item) if p.state in REVIEWABLE]
    if not posts:
        raise UserError(
            f"{item}: nothing left to {verb} (every post is sent, skipped or cancelled)"
        )
    return posts


def _name(by: str) -> str:
    by = by.strip()
    if not by:
        raise UserError("--by needs the reviewer's name")
    return by

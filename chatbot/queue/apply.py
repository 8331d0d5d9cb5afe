"""Writing a plan to the queue in one transaction.

Re-applying unchanged content writes nothing. An edit to text, card or alt text voids the post's
approvals (recorded with the reason) and sends it back to draft; a change of time alone keeps
them, because the reviewer approved the words, not the minute.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chatbot.config import Config
from chatbot.content.load import ContentSet
from chatbot.content.model import PostSpec
from chatbot.db.audit import audit
from chatbot.db.models import Approval, Campaign, Chat, Post, PostState
from chatbot.queue.accounts import sync_accounts
from chatbot.queue.plan import Change, Plan, compute_plan
from chatbot.timeutil import parse_local_datetime, zone


def _sync_groups(session: Session, content: ContentSet, config: Config) -> None:
    chats = {c.key: c for c in session.scalars(select(Chat))}
    for chat in content.chats.values():
        tz_name = chat.timezone or config.account_zone_name(chat.hosts[0])
        starts = parse_local_datetime(chat.starts_at, zone(tz_name))
        row = chats.get(chat.id)
        values = {
            "timezone": tz_name,
            "title": chat.title,
            "hashtag": chat.hashtag,
            "host": chat.hosts[0],
            "starts_at": starts,
        }
        if row is None:
            session.add(Chat(key=chat.id, removed=False, **values))
        else:
            for name, value in values.items():
                if getattr(row, name) != value:
                    setattr(row, name, value)
            if row.removed:
                row.removed = False
    for key, row in chats.items():
        if key not in content.chats and not row.removed:
            row.removed = True
    campaigns = {c.key: c for c in session.scalars(select(Campaign))}
    for campaign in content.campaigns.values():
        camp_row = campaigns.get(campaign.id)
        if camp_row is None:
            session.add(Campaign(key=campaign.id, title=campaign.title, removed=False))
        else:
            if camp_row.title != campaign.title:
                camp_row.title = campaign.title
            if camp_row.removed:
                camp_row.removed = False
    for key, camp_row in campaigns.items():
        if key not in content.campaigns and not camp_row.removed:
            camp_row.removed = True


def _fill(post: Post, spec: PostSpec, change: Change, by: str, now: datetime) -> None:
    post.account_key = spec.account
    post.platform = spec.platform
    post.kind = spec.kind
    post.chat_key = spec.chat
    post.campaign_key = spec.campaign
    post.number = spec.number
    post.seq = spec.seq
    post.text = spec.text
    post.card = spec.card
    post.card_fields = spec.fields or None
    post.alt = spec.alt
    post.image = spec.image
    post.reply_to_previous = spec.reply_to_previous
    # A host's live controls (delay, resume after a pause, now) moved scheduled_at away from
    # the planned time; an apply keeps that shift instead of undoing it.
    shift = timedelta(0)
    if post.scheduled_at is not None and post.planned_at is not None:
        shift = post.scheduled_at - post.planned_at
    post.planned_at = spec.scheduled_at
    post.scheduled_at = spec.scheduled_at + shift
    post.offset_seconds = spec.offset.total_seconds() if spec.offset is not None else None
    post.estimated_cost = change.cost
    post.source_path = str(spec.source.path)
    post.source_line = spec.source.line
    post.updated_at = now
    if post.content_hash != spec.content_hash:
        post.content_hash = spec.content_hash
        post.edited_by = by


def apply_plan(
    session: Session, content: ContentSet, config: Config, now: datetime, by: str
) -> Plan:
    """Compute and write the plan inside the caller's transaction; returns what was done."""
    sync_accounts(session, config)
    _sync_groups(session, content, config)
    session.flush()
    plan = compute_plan(session, content, config, now)
    if plan.is_empty:
        return plan
    posts: dict[str, Post] = {p.key: p for p in session.scalars(select(Post))}
    for change in plan.changes:
        if change.action == "add":
            assert change.spec is not None
            post = change.existing or Post(key=change.key, created_at=now, content_hash="")
            if change.existing is None:
                session.add(post)
            _fill(post, change.spec, change, by, now)
            post.state = PostState.DRAFT
            post.state_reason = None
            posts[change.key] = post
        elif change.action == "change":
            assert change.spec is not None and change.existing is not None
            post = change.existing
            _fill(post, change.spec, change, by, now)
            if change.voids_approval:
                voided = _void_approvals(session, post, now, "text, card or alt text edited")
                if post.state != PostState.DRAFT:
                    post.state = PostState.DRAFT
                    post.state_reason = "edited after approval: needs a new approval"
                if voided:
                    audit(session, now, by, "approval.voided", post.key, count=voided)
        elif change.action == "remove":
            assert change.existing is not None
            change.existing.state = PostState.CANCELLED
            change.existing.state_reason = "removed from content"
            change.existing.updated_at = now
            _void_approvals(session, change.existing, now, "removed from content")
    session.flush()
    for change in plan.changes:
        if change.action in ("add", "change") and change.spec is not None:
            depends = change.spec.depends_on
            posts[change.key].depends_on_id = posts[depends].id if depends else None
    audit(
        session,
        now,
        by,
        "apply",
        "content",
        added=len(plan.of("add")),
        changed=len(plan.of("change")),
        removed=len(plan.of("remove")),
    )
    return plan


def _void_approvals(session: Session, post: Post, now: datetime, reason: str) -> int:
    result = session.execute(
        update(Approval)
        .where(Approval.post_id == post.id, Approval.voided_at.is_(None))
        .values(voided_at=now, voided_reason=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)

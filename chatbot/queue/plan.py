"""What applying content would change in the queue, computed without writing anything.

A post already sent (or possibly sent: ``sending``, ``unknown``) is never changed or removed;
the plan lists it as kept so a person sees why an edit did not take effect.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from chatbot.config import Config
from chatbot.content.model import ContentSet, PostSpec
from chatbot.db.models import SENT_STATES, Post, PostState
from chatbot.kinds import ACTION_KINDS
from chatbot.text import urls_in


@dataclass(frozen=True)
class Existing:
    """What the plan needs of a post already in the queue: read as one row, not an ORM object
    (a blast has tens of thousands)."""

    id: int
    key: str
    account_key: str
    state: str
    content_hash: str
    planned_at: datetime
    scheduled_at: datetime
    depends_on: str | None
    offset_seconds: float | None
    reply_to_previous: bool
    remote_id: str | None
    state_reason: str | None = None


# What apply writes on a post it cancels because the content no longer has it: only such a
# post comes back when the content has it again. One a person cancelled stays cancelled.
REMOVED_FROM_CONTENT = "removed from content"


def read_queue(session: Session) -> dict[str, Existing]:
    """Every post in the queue by key, in one query (a host's actions on answers are not the
    content's: apply never removes them)."""
    parent = aliased(Post)
    rows = session.execute(
        select(
            Post.id,
            Post.key,
            Post.account_key,
            Post.state,
            Post.content_hash,
            Post.planned_at,
            Post.scheduled_at,
            parent.key,
            Post.offset_seconds,
            Post.reply_to_previous,
            Post.remote_id,
            Post.state_reason,
        )
        .outerjoin(parent, Post.depends_on_id == parent.id)
        .where(Post.kind.not_in(ACTION_KINDS))
    )
    return {row[1]: Existing(*row) for row in rows}


@dataclass(frozen=True)
class Change:
    action: str  # add | change | remove | keep
    key: str
    account: str
    spec: PostSpec | None = None
    existing: Existing | None = None
    fields: tuple[str, ...] = ()
    note: str = ""
    cost: float = 0.0

    @property
    def voids_approval(self) -> bool:
        return self.action == "change" and "content" in self.fields


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    queue_cost: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    costs: dict[str, float] = field(default_factory=dict)  # each content post's, by key
    past: list[PostSpec] = field(default_factory=list)
    # the queue as the plan read it: apply writes from it instead of reading it again
    queue: dict[str, Existing] = field(default_factory=dict, repr=False)

    def of(self, action: str) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    @property
    def is_empty(self) -> bool:
        return not any(c.action in ("add", "change", "remove") for c in self.changes)

    def per_account(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for change in self.changes:
            counts[change.account][change.action] += 1
        return counts


def spec_cost(spec: PostSpec, config: Config) -> float:
    return spec.estimated_cost(config.settings.platforms)


def _keep(spec: PostSpec, post: Existing, fields: tuple[str, ...], note: str) -> Change:
    return Change("keep", spec.key, spec.account, spec, post, fields, note=note)


def compute_plan(
    session: Session,
    content: ContentSet,
    config: Config,
    now: datetime,
    costs: dict[str, float] | None = None,
) -> Plan:
    """``costs``: posts' estimated costs by key, where already known (kept with the content
    by the last apply of the same files: ``queue.kept``); the others are estimated here."""
    existing = read_queue(session)
    plan = Plan(queue=existing)
    wanted = {spec.key: spec for spec in content.posts}
    for spec in content.posts:
        cost = costs.get(spec.key) if costs else None
        if cost is None:
            cost = spec_cost(spec, config)
        plan.costs[spec.key] = cost
        post = existing.get(spec.key)
        if (
            post is not None
            and post.state == PostState.CANCELLED
            and post.remote_id is None
            and post.state_reason != REMOVED_FROM_CONTENT
        ):
            note = (
                f"{post.state_reason or 'cancelled'}: it stays cancelled "
                f"(`chatbot settle {spec.key} --retry --by NAME` sends it)"
            )
            plan.changes.append(_keep(spec, post, (), note))
            continue
        if post is None or (post.state == PostState.CANCELLED and post.remote_id is None):
            note = "re-added" if post is not None else ""
            plan.changes.append(
                Change("add", spec.key, spec.account, spec, post, note=note, cost=cost)
            )
            plan.queue_cost[spec.account] += cost
            if spec.scheduled_at < now:
                plan.past.append(spec)
            continue
        diffs = _differences(spec, post)
        if post.state in SENT_STATES:
            if diffs:
                note = f"already {post.state}: edits to it are not applied"
                plan.changes.append(_keep(spec, post, tuple(diffs), note))
            else:
                plan.unchanged += 1
            continue
        if post.state in (PostState.POSTED, PostState.SKIPPED):
            plan.unchanged += 1
            continue
        plan.queue_cost[spec.account] += cost
        if diffs:
            plan.changes.append(
                Change("change", spec.key, spec.account, spec, post, tuple(diffs), cost=cost)
            )
        else:
            plan.unchanged += 1
    for key, post in existing.items():
        if key in wanted or post.state == PostState.CANCELLED:
            continue
        if post.state in SENT_STATES:
            plan.changes.append(
                Change(
                    "keep",
                    key,
                    post.account_key,
                    None,
                    post,
                    note=f"removed from content but already {post.state}: it stays",
                )
            )
            continue
        if post.state in (PostState.POSTED, PostState.SKIPPED):
            continue
        plan.changes.append(Change("remove", key, post.account_key, None, post))
    order = {"add": 0, "change": 1, "remove": 2, "keep": 3}
    plan.changes.sort(key=lambda c: (c.account, order[c.action], c.key))
    return plan


@dataclass
class Week:
    """One week (Monday to Sunday in the default zone) of the queue after applying."""

    starts: date
    posts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reposts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    links: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cost: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def weekly_summary(
    content: ContentSet,
    now: datetime,
    tz: ZoneInfo,
    costs: Mapping[str, float],
    linked: Mapping[str, bool] | None = None,
) -> list[Week]:
    """Per week and account: posts, reposts, posts with a link (the costly kind on X) and
    estimated cost, for everything in the content still ahead of ``now``. ``costs``: every
    post's, as the plan worked them out (``Plan.costs``); ``linked``: whether each post holds
    a link, where known (kept with the content)."""
    weeks: dict[date, Week] = {}
    for spec in content.posts:
        if spec.scheduled_at < now:
            continue
        local = spec.scheduled_at.astimezone(tz).date()
        monday = local - timedelta(days=local.weekday())
        week = weeks.setdefault(monday, Week(monday))
        bucket = week.reposts if spec.kind == "repost" else week.posts
        bucket[spec.account] += 1
        link = linked.get(spec.key) if linked is not None else None
        if link is None:
            link = bool(urls_in(spec.text))
        if link:
            week.links[spec.account] += 1
        week.cost[spec.account] += costs[spec.key]
    return [weeks[k] for k in sorted(weeks)]


def _differences(spec: PostSpec, post: Existing) -> list[str]:
    diffs = []
    if spec.content_hash != post.content_hash:
        diffs.append("content")
    if spec.scheduled_at != post.planned_at:
        diffs.append("time")
    if spec.depends_on != post.depends_on:
        diffs.append("depends_on")
    offset = spec.offset.total_seconds() if spec.offset is not None else None
    if offset != post.offset_seconds:
        diffs.append("offset")
    if spec.reply_to_previous != post.reply_to_previous:
        diffs.append("thread")
    return diffs

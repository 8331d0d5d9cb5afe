"""A campaign's posts: each takes the next free slot of its account, in that account's own
zone, within its daily and weekly caps; posts without an ``account:`` are dealt to the
campaign's accounts in turn (no two accounts on a platform post the same text: X's automation
rules); evergreen posts are repeated into later free slots of the same account."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from chatbot.config import Config
from chatbot.content.expand import (
    card_of,
    checked_image,
    mirrored_key,
    parse_at,
    source_of,
    with_hashtag,
)
from chatbot.content.located import check_account, content_zone, located_error
from chatbot.content.model import DAYS, CampaignIn, PostSpec
from chatbot.platforms import family
from chatbot.yamlmarks import LocatedYaml, PathKey


def slot_times(
    days: list[str], times: list[object], tz: ZoneInfo, first_day: datetime
) -> Iterator[datetime]:
    """Successive slot instants (UTC) from ``first_day`` onwards, in ``tz`` wall-clock time.

    A slot in a skipped hour (spring forward) moves to the same wall time after the gap; a slot in
    a repeated hour takes its first occurrence. Recurring slots must not fail on transition days.
    """
    wanted = {DAYS.index(d) for d in days}
    ordered = sorted(set(times))  # type: ignore[type-var]
    day = first_day.date()
    while True:
        if day.weekday() in wanted:
            for clock in ordered:
                local = datetime.combine(day, clock).replace(tzinfo=tz, fold=0)  # type: ignore[arg-type]
                # A nonexistent time round-trips to a different wall time; that is the shift.
                yield local.astimezone(UTC)
        day += timedelta(days=1)


# Without ends_on, a search for a free slot stops this far ahead (a cap of 0 would loop forever).
_SLOT_HORIZON = timedelta(days=5 * 366)


class SlotBook:
    """One account's slots in one campaign: which are taken, and the daily and weekly caps,
    counted in the account's own zone (a week starts on Monday)."""

    def __init__(
        self,
        slots: Iterator[datetime],
        tz: ZoneInfo,
        first: datetime,
        last: datetime | None,
        daily_cap: int | None,
        weekly_cap: int | None,
    ):
        self._slots = slots
        self._seen: list[datetime] = []
        self.tz = tz
        self.last = last if last is not None else first + _SLOT_HORIZON
        self.daily_cap = daily_cap
        self.weekly_cap = weekly_cap
        self.taken: set[datetime] = set()
        self._per_day: dict[object, int] = {}
        self._per_week: dict[object, int] = {}

    def _slot(self, index: int) -> datetime | None:
        while len(self._seen) <= index:
            at = next(self._slots)
            if at > self.last:
                return None
            self._seen.append(at)
        return self._seen[index]

    def take_time(self, at: datetime) -> None:
        """Count a post at ``at`` (a slot or an explicit ``at:``) against the caps."""
        local = at.astimezone(self.tz).date()
        week = local.isocalendar()[:2]
        self.taken.add(at)
        self._per_day[local] = self._per_day.get(local, 0) + 1
        self._per_week[week] = self._per_week.get(week, 0) + 1

    def take(self, earliest: datetime | None = None) -> datetime | None:
        """The first free slot at or after ``earliest`` within the caps, or None."""
        index = 0
        while (at := self._slot(index)) is not None:
            index += 1
            if at in self.taken or (earliest is not None and at < earliest):
                continue
            local = at.astimezone(self.tz).date()
            if self.daily_cap is not None and self._per_day.get(local, 0) >= self.daily_cap:
                continue
            week = local.isocalendar()[:2]
            if self.weekly_cap is not None and self._per_week.get(week, 0) >= self.weekly_cap:
                continue
            self.take_time(at)
            return at
        return None


def _book(campaign: CampaignIn, doc: LocatedYaml, config: Config, account: str) -> SlotBook | None:
    if campaign.slots is None or campaign.starts_on is None:
        return None
    # Each account's slots are in its own zone unless the campaign pins one.
    tz = content_zone(doc, ("timezone",), campaign.timezone, config.account_zone_name(account))
    first = datetime.combine(campaign.starts_on, datetime.min.time())
    last = None
    if campaign.ends_on is not None:
        last = datetime.combine(campaign.ends_on, datetime.max.time()).replace(tzinfo=tz)
    settings = config.settings.accounts[account]
    return SlotBook(
        slot_times(list(campaign.slots.days), list(campaign.slots.times), tz, first),
        tz,
        first.replace(tzinfo=tz),
        last,
        settings.daily_cap,
        settings.weekly_cap,
    )


def _owners(campaign: CampaignIn, config: Config) -> list[list[tuple[str, bool]]]:
    """For each post, the accounts it goes out from and whether each is the primary copy.

    A post with ``account:`` goes out from that account only. Any other post goes out once per
    platform: within one platform the campaign's accounts take posts in turn (no two accounts
    on a platform post the same text, X's automation rules), and every platform gets every post.
    """
    by_platform: dict[str, list[str]] = {}
    for account in campaign.accounts:
        by_platform.setdefault(family(config.platform_of(account)), []).append(account)
    owners = []
    for index, item in enumerate(campaign.posts):
        if item.account is not None:
            owners.append([(item.account, True)])
            continue
        owners.append(
            [
                (group[index % len(group)], rank == 0)
                for rank, group in enumerate(by_platform.values())
            ]
        )
    return owners


def campaign_posts(campaign: CampaignIn, doc: LocatedYaml, config: Config) -> list[PostSpec]:
    for index, account in enumerate(campaign.accounts):
        check_account(doc, ("accounts", index), account, config)
    if campaign.slots is not None and campaign.starts_on is None:
        raise located_error(doc, ("slots",), "slots need starts_on, e.g. starts_on: 2026-12-01")
    if campaign.ends_on and campaign.starts_on and campaign.ends_on < campaign.starts_on:
        raise located_error(doc, ("ends_on",), "ends_on is before starts_on")
    if campaign.evergreen is not None and (campaign.slots is None or campaign.ends_on is None):
        raise located_error(
            doc, ("evergreen",), "evergreen re-queueing needs slots and an ends_on to stop at"
        )
    for index, item in enumerate(campaign.posts):
        if item.account is not None:
            check_account(doc, ("posts", index, "account"), item.account, config)
    books: dict[str, SlotBook | None] = {}
    posts: list[PostSpec] = []
    seen_ids: set[str] = set()
    placed: list[tuple[int, bool, str, datetime]] = []
    owners = _owners(campaign, config)
    # Explicit times first, so that slot posts do not take a day an explicit post fills.
    for index, (item, accounts) in enumerate(zip(campaign.posts, owners, strict=True)):
        for account, primary in accounts:
            if account not in books:
                books[account] = _book(campaign, doc, config, account)
            if item.at is None:
                continue
            tz = content_zone(
                doc, ("timezone",), campaign.timezone, config.account_zone_name(account)
            )
            at = parse_at(doc, ("posts", index, "at"), item.at, tz)
            book = books[account]
            if book is not None:
                book.take_time(at)
            placed.append((index, not primary, account, at))
    for index, accounts in enumerate(owners):
        if campaign.posts[index].at is not None:
            continue
        keys: PathKey = ("posts", index)
        for account, primary in accounts:
            book = books[account]
            if book is None:
                raise located_error(
                    doc,
                    keys,
                    "needs a time: add slots and starts_on to the campaign, or give this post "
                    "an at:",
                )
            slot = book.take()
            if slot is None:
                caps = config.settings.accounts[account]
                limits = [
                    f"{name} {value}"
                    for name, value in (
                        ("daily_cap", caps.daily_cap),
                        ("weekly_cap", caps.weekly_cap),
                    )
                    if value is not None
                ]
                capped = f" within {account}'s {' and '.join(limits)}" if limits else ""
                raise located_error(
                    doc,
                    keys,
                    f"no free slot for this post on {account}{capped} before ends_on "
                    f"{campaign.ends_on} (add slots, move ends_on, raise the caps, or give the "
                    "post an at:)",
                )
            placed.append((index, not primary, account, slot))
    placed.sort()
    for index, mirror, account, at in placed:
        item = campaign.posts[index]
        keys = ("posts", index)
        post_id = item.id or f"p{index + 1}"
        if not mirror:
            if post_id in seen_ids:
                raise located_error(doc, (*keys, "id"), f"post id {post_id!r} is used twice")
            seen_ids.add(post_id)
        key = mirrored_key(f"{campaign.id}/{post_id}", account, not mirror)
        posts.append(_campaign_spec(campaign, doc, config, index, account, at, key))
    posts.extend(_evergreen(campaign, doc, config, posts, books))
    return posts


def _campaign_spec(
    campaign: CampaignIn,
    doc: LocatedYaml,
    config: Config,
    index: int,
    account: str,
    at: datetime,
    key: str,
    text: str | None = None,
    seq: int | None = None,
) -> PostSpec:
    item = campaign.posts[index]
    keys: PathKey = ("posts", index, "text")
    platform = config.platform_of(account)
    handle = config.settings.accounts[account].handle
    card, fields = card_of(
        item.card,
        item.text,
        {"footer": " · ".join(x for x in (campaign.hashtag or "", handle) if x)},
        config.settings.accounts[account].brand,
    )
    raw = item.text_on(platform) if text is None else text
    if text is None and platform in item.text_for:
        keys = ("posts", index, "text_for", platform)
    return PostSpec(
        key=key,
        account=account,
        platform=platform,
        kind="campaign",
        text=with_hashtag(raw.strip(), campaign.hashtag),
        source_text=raw,
        scheduled_at=at,
        source=source_of(doc, keys),
        card=card,
        card_fields=fields,
        alt=item.alt,
        image=checked_image(doc, ("posts", index), item.image, platform, config),
        campaign=campaign.id,
        seq=index if seq is None else seq,
    )


def _evergreen(
    campaign: CampaignIn,
    doc: LocatedYaml,
    config: Config,
    posts: list[PostSpec],
    books: dict[str, SlotBook | None],
) -> list[PostSpec]:
    """Re-queue posts marked ``evergreen`` into later free slots of the same account, each
    repeat at least ``min_gap`` after the previous one, until ends_on or ``repeats``.

    Same account only: the same words from another account would break X's automation rules.
    A repeat uses the post's next ``variants`` wording when it has any, because X refuses a
    post identical to a recent one from the same account.
    """
    policy = campaign.evergreen
    if policy is None:
        return []
    repeats: list[PostSpec] = []
    last = {p.key: p.scheduled_at for p in posts}
    for round_no in range(2, policy.repeats + 2):
        for original in posts:
            item = campaign.posts[original.seq]
            if not item.evergreen:
                continue
            book = books.get(original.account)
            if book is None:
                continue
            slot = book.take(earliest=last[original.key] + policy.min_gap)
            if slot is None:
                continue
            last[original.key] = slot
            variants = item.variants
            text = variants[(round_no - 2) % len(variants)] if variants else None
            post_id, plus, _ = original.key.split("/", 1)[1].partition("+")
            key = mirrored_key(f"{campaign.id}/{post_id}~{round_no}", original.account, not plus)
            repeats.append(
                _campaign_spec(
                    campaign,
                    doc,
                    config,
                    original.seq,
                    original.account,
                    slot,
                    key,
                    text=text,
                    seq=len(campaign.posts) * (round_no - 1) + original.seq,
                )
            )
    return repeats

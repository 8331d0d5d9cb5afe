"""The shapes content files must have, and the posts they expand into.

The ``*In`` models describe what a person writes (validated by pydantic, unknown keys refused);
``PostSpec`` is one concrete post after expansion, with its time in UTC and where it came from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from chatbot.errors import ContentError
from chatbot.platforms import platform_named
from chatbot.timeutil import parse_clock_time, parse_duration

if TYPE_CHECKING:
    from chatbot.settings import Platforms

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
ClockTime = Annotated[Any, BeforeValidator(parse_clock_time)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
# A card template's name: a file in graphics/templates/, never a path.
TemplateName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# "partner": a partner's own wording of a post, sent after the original instead of a repost.
PostKind = Literal["intro", "question", "outro", "campaign", "repost", "partner"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CardIn(_In):
    """A card with its own wording: ``{template: quote, text: ..., attribution: ...}``."""

    template: TemplateName
    text: str | None = None
    label: str | None = None
    attribution: str | None = None
    title: str | None = None
    when: str | None = None
    footer: str | None = None


def _platform_name(value: str) -> str:
    platform_named(value)  # raises ValueError naming the platforms there are
    return value


TextPlatform = Annotated[str, AfterValidator(_platform_name)]


class Media(_In):
    text: str = Field(min_length=1)
    # Other wording on one platform (Bluesky's 300 graphemes, Mastodon's 500 characters).
    text_for: dict[TextPlatform, Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)
    card: TemplateName | CardIn | None = None
    alt: str | None = None
    image: str | None = None

    def text_on(self, platform: str) -> str:
        return self.text_for.get(platform, self.text)


class QuestionIn(Media):
    at: str | datetime | None = None
    after: Duration | None = None


class AmplifyIn(_In):
    account: str
    after: Duration = timedelta(0)
    jitter: Duration = timedelta(0)
    skip: list[str | int] = Field(default_factory=list)
    # Post name (q3, intro, a campaign post id) -> the partner's own text instead of a repost.
    own_words: dict[str, str] = Field(default_factory=dict)


class FollowIn(_In):
    """``follow:`` of a chat: which platforms' answers are read and for how long."""

    x: bool = False  # reading X costs money per post read: off unless the chat says so
    x_max_reads: int | None = Field(None, ge=1, le=100_000)
    after: Duration | None = None


class ChatIn(_In):
    id: Slug
    title: str = ""
    hashtag: str = Field(pattern=r"^#\w+$")
    # One account, or one per platform: every chat post goes out from each.
    host: str | list[str] = Field(min_length=1)
    starts_at: str | datetime
    timezone: str | None = None
    interval: Duration
    intro: str | Media | None = None
    questions: list[QuestionIn] = Field(min_length=1)
    outro: str | Media | None = None
    amplify: list[AmplifyIn] = Field(default_factory=list)
    thread: bool = False
    follow: FollowIn = Field(default_factory=FollowIn)
    # The brand kit of the chat's cards (graphics/brands/NAME.yaml), e.g. a partner hosting it.
    brand: Slug | None = None

    @property
    def hosts(self) -> list[str]:
        return [self.host] if isinstance(self.host, str) else list(self.host)


class SlotsIn(_In):
    days: list[Day] = Field(min_length=1)
    times: list[ClockTime] = Field(min_length=1)


class CampaignPostIn(Media):
    id: Slug | None = None
    at: str | datetime | None = None
    account: str | None = None
    evergreen: bool = False
    # Other wordings for evergreen repeats (X refuses a post identical to a recent one).
    variants: list[str] = Field(default_factory=list)


class EvergreenIn(_In):
    """Re-queue posts marked ``evergreen: true`` into later free slots."""

    min_gap: Duration = timedelta(days=14)
    repeats: int = Field(1, ge=1, le=20)


class CampaignIn(_In):
    id: Slug
    title: str = ""
    accounts: list[str] = Field(min_length=1)
    timezone: str | None = None
    hashtag: str | None = Field(None, pattern=r"^#\w+$")
    slots: SlotsIn | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    posts: list[CampaignPostIn] = Field(min_length=1)
    amplify: list[AmplifyIn] = Field(default_factory=list)
    evergreen: EvergreenIn | None = None


@dataclass(frozen=True)
class Source:
    """Where a post's text was written: file, line and column of the text's first character.

    ``text_offset_ok`` is true when the text scalar sits on one line as written, so a column inside
    the text can be computed by adding an offset.
    """

    path: Path
    line: int
    column: int
    text_offset_ok: bool = False


@dataclass(frozen=True)
class PostSpec:
    key: str
    account: str
    platform: str
    kind: PostKind
    text: str
    scheduled_at: datetime
    source: Source
    source_text: str = ""
    card: str | None = None
    card_fields: tuple[tuple[str, str], ...] = ()
    alt: str | None = None
    image: str | None = None
    depends_on: str | None = None
    offset: timedelta | None = None
    chat: str | None = None
    campaign: str | None = None
    number: int | None = None
    seq: int = 0
    reply_to_previous: bool = False

    @cached_property  # asked for by the plan and the apply of every post of a blast
    def content_hash(self) -> str:
        """What a reviewer approves: the account, text, card, image and alt text, never the time."""
        payload = {
            "account": self.account,
            "kind": self.kind,
            "text": self.text,
            "card": self.card,
            "card_fields": [list(f) for f in self.card_fields],
            "alt": self.alt,
            "image": self.image,
            "depends_on": self.depends_on,
        }
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.card_fields)

    def estimated_cost(self, prices: Platforms) -> float:
        """What sending it costs at the configured prices (X charges more for a link)."""
        platform = platform_named(self.platform)
        return platform.cost(self.kind, self.text, bool(self.card or self.image), prices)

    @property
    def is_repost(self) -> bool:
        return self.kind == "repost"

    @property
    def group(self) -> str:
        return self.chat or self.campaign or ""


@dataclass
class ContentSet:
    """Everything under ``content_dir``: expanded posts, the raw models and any errors."""

    chats: dict[str, ChatIn] = field(default_factory=dict)
    campaigns: dict[str, CampaignIn] = field(default_factory=dict)
    posts: list[PostSpec] = field(default_factory=list)
    errors: list[ContentError] = field(default_factory=list)
    vision_path: Path | None = None

    def post(self, key: str) -> PostSpec:
        return next(p for p in self.posts if p.key == key)

    def posts_of(self, group: str) -> list[PostSpec]:
        return [p for p in self.posts if p.group == group]

"""The rule interface: a rule looks at posts and yields findings.

A rule is declared in ``vision.yaml`` with an ``id``, a ``level``, a ``kind`` (which class below
handles it), a ``message`` template and kind-specific options. Rules see one post at a time
(``check_post``) or, for rules across accounts such as near-duplicates, the whole set
(``check_all``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from chatbot.content.model import PostSpec
from chatbot.platforms import DEFAULT_PLATFORM, PLATFORM_NAMES, platform_named
from chatbot.settings import Platforms

Level = Literal["error", "warning", "suggestion"]
LEVELS: tuple[Level, ...] = ("error", "warning", "suggestion")


@dataclass(frozen=True)
class Finding:
    """One problem with one post. ``offset`` is a character index into the post's final text."""

    post: PostSpec
    rule_id: str
    level: Level
    message: str
    offset: int | None = None
    platform: str | None = None

    @property
    def path(self) -> str:
        return str(self.post.source.path)

    @property
    def line(self) -> int:
        return self.post.source.line

    @property
    def column(self) -> int:
        """Column in the file: inside the text when it can be mapped, else the text's start."""
        source = self.post.source
        if self.offset is None or not source.text_offset_ok:
            return source.column
        raw = self.post.source_text
        start = self.post.text.find(raw.strip()) if raw else -1
        if start < 0 or self.offset < start or self.offset >= start + len(raw.strip()):
            return source.column
        lead = len(raw) - len(raw.lstrip())
        return source.column + lead + (self.offset - start)

    @property
    def shown_platform(self) -> str | None:
        """X is the default reader's platform; any other is named, so a finding on the Bluesky
        copy of a post is not mistaken for one on the X copy."""
        platform = self.platform or self.post.platform
        default = platform_named(platform).rules == DEFAULT_PLATFORM
        return platform if not default or self.platform else None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.level} {self.rule_id}: {self.message}"

    def format(self) -> str:
        platform = self.shown_platform
        return self.where + (f" [{platform}]" if platform else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "level": self.level,
            "rule": self.rule_id,
            "message": self.message,
            "post": self.post.key,
            "account": self.post.account,
            "platform": self.platform or self.post.platform,
        }


def format_findings(findings: Iterable[Finding]) -> list[str]:
    """One line per finding, except that the same finding on several platforms' copies of one
    text is one line naming them all (``[x, mastodon, bluesky]``)."""
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.where, []).append(finding)
    lines = []
    for where, group in groups.items():
        if len(group) == 1:
            lines.append(group[0].format())
            continue
        order = {name: i for i, name in enumerate(PLATFORM_NAMES)}
        names = sorted({f.platform or f.post.platform for f in group}, key=order.__getitem__)
        shown = [n for n in names if not platform_named(n).stands_in] or names
        plain = len(shown) == 1 and all(f.shown_platform is None for f in group)
        lines.append(where if plain else f"{where} [{', '.join(shown)}]")
    return lines


class RuleOptions(BaseModel):
    """Fields every rule has; kinds add their own options by subclassing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    kind: str
    level: Level = "warning"
    message: str = ""
    scope: list[str] = Field(
        default_factory=list,
        description="Post kinds (intro, question, outro, campaign) or chat/campaign ids; "
        "empty means every post with text.",
    )


@dataclass
class Context:
    """What rules need besides the posts: platform limits, the card checker (if any) and the
    time of the check (None: times are not judged)."""

    platforms: Platforms = field(default_factory=Platforms)
    extra: dict[str, Any] = field(default_factory=dict)
    now: datetime | None = None


class Rule:
    """Base class: subclasses set ``kind`` and ``Options`` and override a check method."""

    kind: ClassVar[str] = ""
    Options: ClassVar[type[RuleOptions]] = RuleOptions
    default_message: ClassVar[str] = ""
    # True for a rule that reads ``context.now``: its findings change with the clock, so a
    # review kept for the same content runs it again (``queue.kept``).
    judges_time: ClassVar[bool] = False

    def __init__(self, options: RuleOptions):
        self.options = options

    @property
    def id(self) -> str:
        return self.options.id

    def applies_to(self, post: PostSpec) -> bool:
        if post.is_repost:
            return False
        scope = self.options.scope
        if not scope:
            return True
        kinds = {post.kind, "chat" if post.chat else "campaign"}
        return bool(kinds & set(scope)) or (post.group in scope)

    def finding(
        self,
        post: PostSpec,
        offset: int | None = None,
        platform: str | None = None,
        **values: Any,
    ) -> Finding:
        template = self.options.message or self.default_message
        try:
            message = template.format(**values)
        except (KeyError, IndexError, ValueError):
            message = template
        return Finding(post, self.id, self.options.level, message, offset, platform)

    def check_post(self, post: PostSpec, context: Context) -> Iterator[Finding]:
        return iter(())

    def check_all(self, posts: Iterable[PostSpec], context: Context) -> Iterator[Finding]:
        for post in posts:
            if self.applies_to(post):
                yield from self.check_post(post, context)


RULE_KINDS: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    RULE_KINDS[cls.kind] = cls
    return cls

"""Content read and reviewed once per version of the files, then kept.

Reading and reviewing a blast of 10,000 posts is most of what ``check``, ``plan``, ``apply``
and ``approve`` cost, and a person runs them one after another on the same files. So after a
whole read the expanded content and the findings of every rule that does not depend on the
time are kept (as JSON, in ``cache_dir``) under a hash of everything they were made from: the
config, every file under ``content_dir``, the graphics and this version of the tool's code
(``content.digest``). The next command with the same hash starts from them: the rules that
judge times against the clock (posts already past) run again, the rest is as it was. Any
doubt (nothing kept, a kept file that cannot be read, another format) means a whole read.

JSON, not pickle: a file in the cache must not be able to run code when it is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot.config import Config
from chatbot.content.digest import code_digest, content_digest
from chatbot.content.model import CampaignIn, ChatIn, ContentSet, PostSpec, Source
from chatbot.errors import ContentError, UserErrors
from chatbot.files import write_atomically
from chatbot.text import urls_in

if TYPE_CHECKING:  # the rules load only when a review runs (a second apply needs none)
    from chatbot.vision import Review
    from chatbot.vision.base import Finding

FORMAT = 3
KEEP = 3  # kept files: the newest versions of the content, for switching back and forth


def digest_of(config: Config) -> str:
    """The hash the content is filed under: taken before the files are read."""
    return f"{content_digest(config)[:32]}{code_digest()[:16]}"


def _path(config: Config, digest: str) -> Path:
    return config.cache_dir / f"content-{digest}.json"


def _row(spec: PostSpec, cost: float | None, linked: bool | None = None) -> dict[str, Any]:
    return {
        "cost": cost,
        "linked": linked,
        "hash": spec.content_hash,
        "key": spec.key,
        "account": spec.account,
        "platform": spec.platform,
        "kind": spec.kind,
        "text": spec.text,
        "at": spec.scheduled_at.isoformat(),
        "source": [
            str(spec.source.path),
            spec.source.line,
            spec.source.column,
            spec.source.text_offset_ok,
        ],
        "source_text": spec.source_text,
        "card": spec.card,
        "card_fields": [list(pair) for pair in spec.card_fields],
        "alt": spec.alt,
        "image": spec.image,
        "depends_on": spec.depends_on,
        "offset": spec.offset.total_seconds() if spec.offset is not None else None,
        "chat": spec.chat,
        "campaign": spec.campaign,
        "number": spec.number,
        "seq": spec.seq,
        "reply_to_previous": spec.reply_to_previous,
    }


def _spec(row: dict[str, Any], paths: dict[str, Path] | None = None) -> PostSpec:
    """The post of a kept row; ``paths``: the files' paths made so far (a blast has a few
    files and tens of thousands of posts: one ``Path`` per file, not per post)."""
    path, line, column, offset_ok = row["source"]
    if paths is None:
        paths = {}
    if path not in paths:
        paths[path] = Path(path)
    spec = PostSpec(
        key=row["key"],
        account=row["account"],
        platform=row["platform"],
        kind=row["kind"],
        text=row["text"],
        scheduled_at=datetime.fromisoformat(row["at"]),
        source=Source(paths[path], int(line), int(column), bool(offset_ok)),
        source_text=row["source_text"],
        card=row["card"],
        card_fields=tuple((str(k), str(v)) for k, v in row["card_fields"]),
        alt=row["alt"],
        image=row["image"],
        depends_on=row["depends_on"],
        offset=timedelta(seconds=row["offset"]) if row["offset"] is not None else None,
        chat=row["chat"],
        campaign=row["campaign"],
        number=row["number"],
        seq=int(row["seq"]),
        reply_to_previous=bool(row["reply_to_previous"]),
    )
    # The hash this same code worked out from these same fields (a plan compares every post's
    # with the queue's: a tenth of a second apply of 10,000 posts to work out again).
    spec.__dict__["content_hash"] = str(row["hash"])
    return spec


def _plain(value: object) -> object:
    """A model's value as JSON that the model's own validators read back to the same value:
    durations as ``250ms`` (what ``parse_duration`` reads), times and dates in ISO 8601."""
    if isinstance(value, timedelta):
        return f"{round(value.total_seconds() * 1000)}ms"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not kept")


def _finding_row(row: dict[str, Any], posts: int) -> dict[str, Any]:
    """A kept finding, checked now so that making it later cannot fail: on a kept post (by
    its place) or on a post of its own, with every field there."""
    post = row["post"]
    if isinstance(post, int):
        if not 0 <= post < posts:
            raise IndexError(post)
    else:
        _spec(post)
    if not isinstance(row["rule"], str) or row["level"] not in ("error", "warning", "suggestion"):
        raise ValueError(row)
    return {name: row[name] for name in ("post", "rule", "level", "message", "offset", "platform")}


@dataclass
class Kept:
    """Content as a whole read left it, with what its review found that the clock cannot
    change; by key, each post's estimated cost and whether it holds a link (what a plan
    prints of it, without finding its links again)."""

    content: ContentSet
    costs: dict[str, float]
    linked: dict[str, bool]
    _findings: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def refused(self) -> bool:
        """Content an apply refuses whatever the time: content errors or error findings."""
        return bool(self.content.errors) or any(f["level"] == "error" for f in self._findings)

    def timeless(self) -> list[Finding]:
        """The kept findings, on the kept posts (made when asked: the rules' module loads
        only for a review)."""
        from chatbot.vision.base import Finding

        posts = self.content.posts
        return [
            Finding(
                posts[row["post"]] if isinstance(row["post"], int) else _spec(row["post"]),
                row["rule"],
                row["level"],
                row["message"],
                row["offset"],
                row["platform"],
            )
            for row in self._findings
        ]


def remember(config: Config, digest: str, content: ContentSet, review: Review) -> None:
    """Keep ``content`` (read from files whose hash was ``digest`` before they were read) and
    the timeless part of its ``review``, with each post's cost and links (cheap now: the
    review has just found every post's links). Not kept if a file changed while it was read
    (it might be of either version), nor content whose errors are not plain content errors.
    A cache that cannot be written costs the next command its whole read, nothing more."""
    if digest_of(config) != digest or any(type(e) is not ContentError for e in content.errors):
        return
    prices = config.settings.platforms
    index = {id(post): number for number, post in enumerate(content.posts)}
    findings = [
        {
            "post": index[id(f.post)] if id(f.post) in index else _row(f.post, None),
            "rule": f.rule_id,
            "level": f.level,
            "message": f.message,
            "offset": f.offset,
            "platform": f.platform,
        }
        for f in review.timeless
    ]
    data = {
        "format": FORMAT,
        "digest": digest,
        "chats": [chat.model_dump(exclude_defaults=True) for chat in content.chats.values()],
        "campaigns": [c.model_dump(exclude_defaults=True) for c in content.campaigns.values()],
        "posts": [
            _row(post, post.estimated_cost(prices), bool(urls_in(post.text)))
            for post in content.posts
        ],
        "errors": [[e.message, e.path, e.line] for e in content.errors],
        "vision": str(content.vision_path) if content.vision_path is not None else None,
        "findings": findings,
    }
    try:
        # dumps, not dump: json.dump encodes in Python, a piece at a time (0.9 s for 10,000
        # posts, against a tenth of that for the C encoder behind dumps).
        write_atomically(_path(config, digest), json.dumps(data, default=_plain).encode())
        kept = sorted(config.cache_dir.glob("content-*.json"), key=lambda p: p.stat().st_mtime)
        # applied-*.json: what the previous version kept (posts only), read by nothing now
        for old in [*kept[:-KEEP], *config.cache_dir.glob("applied-*.json")]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def reviewed(
    config: Config,
    digest: str | None,
    known: Kept | None,
    *,
    paths: list[Path] | None = None,
    now: datetime | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    strict: bool = False,
) -> tuple[ContentSet, Review]:
    """The content and its review: from ``known`` (what ``recall`` found for ``digest``) with
    only the clock's rules run again, or read from the files (all, or ``paths``) and kept
    under ``digest`` when there is one. ``now``: as ``review`` takes it; ``strict``: content
    errors are raised (``UserErrors``) before any review."""
    from chatbot.vision import review  # the loader and the rules load only here

    if known is not None:
        content, timeless = known.content, known.timeless()
    else:
        from chatbot.content.load import load_content

        content, timeless = load_content(config, paths, progress=progress), None
    if strict and content.errors:
        raise UserErrors(list(content.errors))
    result = review(
        content,
        config.settings.platforms,
        graphics=config.graphics_dir,
        cards_dir=config.cards_dir,
        now=now,
        progress=progress,
        timeless=timeless,
    )
    if known is None and digest is not None:
        remember(config, digest, content, result)
    return content, result


def recall(config: Config, digest: str) -> Kept | None:
    """What the last whole read of exactly these files (``digest_of``) kept, or None."""
    try:
        data = json.loads(_path(config, digest).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("digest") != digest:
            return None
        rows = data["posts"]
        paths: dict[str, Path] = {}
        chats = [ChatIn.model_validate(raw) for raw in data["chats"]]
        campaigns = [CampaignIn.model_validate(raw) for raw in data["campaigns"]]
        content = ContentSet(
            chats={chat.id: chat for chat in chats},
            campaigns={campaign.id: campaign for campaign in campaigns},
            posts=[_spec(row, paths) for row in rows],
            errors=[ContentError(message, path, line) for message, path, line in data["errors"]],
            vision_path=Path(data["vision"]) if data["vision"] is not None else None,
        )
        costs = {row["key"]: float(row["cost"]) for row in rows}
        linked = {row["key"]: bool(row["linked"]) for row in rows}
        findings = [_finding_row(row, len(rows)) for row in data["findings"]]
        return Kept(content, costs, linked, findings)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        # ValueError covers pydantic's ValidationError: a model this version reads otherwise
        return None

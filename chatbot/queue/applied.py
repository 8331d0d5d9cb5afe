"""A second ``apply`` of content nobody changed: answered from what the first one kept.

Reading and reviewing a blast of 10,000 posts is most of what ``apply`` costs, and when the
files have not changed since the last apply the answer is almost always "nothing to write".
So after each apply the expanded posts are kept (as JSON, in ``cache_dir``) under a hash of
everything they were made from: the config, every content file's bytes, the graphics and this
version of the tool's code (``content.digest``). The next apply with the same hash plans from
the kept posts against the queue as it is now, with the same ``compute_plan`` as always; only
if that plan is empty does it stop there. Anything to write, and any doubt (no kept posts, a
file that cannot be read or parsed), goes the whole way: files read, reviewed, applied.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from chatbot.config import Config
from chatbot.content.digest import code_digest, content_digest
from chatbot.content.model import PostSpec, Source
from chatbot.files import write_atomically

FORMAT = 2
KEEP = 3  # kept files: the newest versions of the content, for switching back and forth


def digest_of(config: Config) -> str:
    """The hash the kept posts are filed under: taken before the files are read."""
    return f"{content_digest(config)[:32]}{code_digest()[:16]}"


def _path(config: Config, digest: str) -> Path:
    return config.cache_dir / f"applied-{digest}.json"


def _row(spec: PostSpec, cost: float) -> dict[str, Any]:
    return {
        "cost": cost,
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


def _spec(row: dict[str, Any]) -> PostSpec:
    path, line, column, offset_ok = row["source"]
    return PostSpec(
        key=row["key"],
        account=row["account"],
        platform=row["platform"],
        kind=row["kind"],
        text=row["text"],
        scheduled_at=datetime.fromisoformat(row["at"]),
        source=Source(Path(path), int(line), int(column), bool(offset_ok)),
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


def remember(config: Config, digest: str, posts: list[PostSpec], costs: dict[str, float]) -> None:
    """Keep ``posts`` (those just applied, read from files whose hash was ``digest`` before
    they were read) and their estimated costs by key (as the plan worked them out) for the
    next apply of the same files. Not kept if a file changed while the apply ran (the posts
    might be of either version). A cache that cannot be written costs the next apply its
    full read, nothing more."""
    if digest_of(config) != digest:
        return
    path = _path(config, digest)
    rows = [_row(post, costs[post.key]) for post in posts]
    # dumps, not dump: json.dump encodes in Python, a piece at a time (0.9 s for 10,000
    # posts, against a tenth of that for the C encoder behind dumps).
    data = json.dumps({"format": FORMAT, "digest": digest, "posts": rows}).encode()
    try:
        write_atomically(path, data)
        kept = sorted(path.parent.glob("applied-*.json"), key=lambda p: p.stat().st_mtime)
        for old in kept[:-KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def recall(config: Config, digest: str) -> tuple[list[PostSpec], dict[str, float]] | None:
    """The posts kept by the last apply of exactly these files (``digest_of``), with their
    estimated costs by key (the prices are in the config, so in the digest), or None."""
    try:
        data = json.loads(_path(config, digest).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("digest") != digest:
            return None
        rows = data["posts"]
        return [_spec(row) for row in rows], {row["key"]: float(row["cost"]) for row in rows}
    except (OSError, ValueError, KeyError, TypeError):
        return None

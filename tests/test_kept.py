"""Content read once per version of its files (``chatbot.queue.kept``): what a whole read
found is kept, and the next command on the same files starts from it; any change to what the
content is made of is a whole read again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from sqlalchemy import select, update

from chatbot.config import Config, load_config
from chatbot.content.load import load_content
from chatbot.content.model import ContentSet
from chatbot.db.models import Campaign, Chat, Post, PostState
from chatbot.db.session import open_database
from chatbot.queue import kept
from chatbot.queue.plan import spec_cost
from chatbot.text import urls_in
from chatbot.vision import Review, review
from chatbot.vision.base import RULE_KINDS
from tests.conftest import ROOT, Project

EARLY = datetime(2020, 1, 1, tzinfo=UTC)
LATE = datetime(2040, 1, 1, tzinfo=UTC)


def reviewed(config: Config, now: datetime | None = None) -> tuple[ContentSet, Review]:
    content = load_content(config)
    return content, review(
        content,
        config.settings.platforms,
        graphics=config.graphics_dir,
        cards_dir=config.cards_dir,
        now=now,
    )


def keep(config: Config) -> tuple[str, ContentSet, Review]:
    digest = kept.digest_of(config)
    content, result = reviewed(config)
    kept.remember(config, digest, content, result)
    return digest, content, result


def findings(result: Review) -> list[tuple[object, ...]]:
    return [(f.post, f.rule_id, f.level, f.message, f.offset, f.platform) for f in result.findings]


def test_kept_content_is_the_content_the_files_expand_to(example: Project) -> None:
    config = load_config(str(example.config_path))
    digest = kept.digest_of(config)
    assert kept.recall(config, digest) is None, "nothing kept yet"
    config.cache_dir.mkdir(parents=True)
    earlier = config.cache_dir / "applied-0123.json"  # what the previous version kept
    earlier.write_text("{}")
    content, result = reviewed(config)
    kept.remember(config, digest, content, result)
    assert not earlier.exists()
    known = kept.recall(config, digest)
    assert known is not None
    assert known.content.posts == content.posts
    kept_hashes = [p.__dict__.get("content_hash") for p in known.content.posts]
    assert kept_hashes == [p.content_hash for p in content.posts], "kept, not worked out again"
    assert known.content.chats == content.chats and known.content.campaigns == content.campaigns
    assert known.content.vision_path == content.vision_path
    assert known.costs == {p.key: spec_cost(p, config) for p in content.posts}
    assert known.linked == {p.key: bool(urls_in(p.text)) for p in content.posts}
    assert any(known.linked.values()) and not all(known.linked.values())


def test_kept_findings_with_the_clock_rules_run_again_are_a_whole_review(
    example: Project,
) -> None:
    """The example has findings; the kept ones plus the rules that read the clock, at two
    different times, are exactly what a whole review finds at those times."""
    campaign = example.root / "content" / "campaigns" / "ban-push.yaml"
    campaign.write_text(
        campaign.read_text().replace(
            "Face surveillance has\n      no place in libraries.",
            "Guys, face surveillance has\n      no place https://ala.org/?utm_source=x in libraries.",
        )
    )
    config = load_config(str(example.config_path))
    digest, _, _ = keep(config)
    known = kept.recall(config, digest)
    assert known is not None
    for now in (EARLY, LATE):
        whole = reviewed(config, now)[1]
        again = review(known.content, config.settings.platforms, now=now, timeless=known.timeless())
        assert findings(again) == findings(whole) and findings(whole)
        assert again.errors == whole.errors
    late = review(known.content, config.settings.platforms, now=LATE, timeless=known.timeless())
    assert any(f.rule_id == "schedule.past" for f in late.findings), "judged at the new time"


def test_only_the_rules_that_say_so_read_the_clock(example: Project) -> None:
    """A rule that reads the clock without saying ``judges_time`` would have its findings
    kept as timeless and never judged again: the timeless findings at two times are equal."""
    config = load_config(str(example.config_path))
    early, late = reviewed(config, EARLY)[1], reviewed(config, LATE)[1]
    assert findings(early) != findings(late), "the example has posts past in 2040"
    assert [findings(Review(r.timeless)) for r in (early, late)] == [
        findings(Review(early.timeless))
    ] * 2
    assert {kind for kind, cls in RULE_KINDS.items() if cls.judges_time} == {"past_time"}


def test_content_errors_are_kept_and_reported_again(example: Project) -> None:
    campaign = next((example.root / "content" / "campaigns").glob("*.yaml"))
    campaign.write_text(campaign.read_text().replace("text:", "txet:", 1))
    first = example.run("check")
    assert first.exit_code == 1 and "txet" in first.output
    assert list(load_config(str(example.config_path)).cache_dir.glob("content-*.json"))
    again = example.run("check")
    assert again.exit_code == 1 and again.output == first.output


def test_any_change_to_what_the_posts_are_made_of_is_another_digest(example: Project) -> None:
    config = load_config(str(example.config_path))
    digest, _, _ = keep(config)
    chat = next((example.root / "content" / "chats").glob("*.yaml"))
    original = chat.read_text()
    chat.write_text(original.replace("text:", "text: Edited", 1))
    assert kept.digest_of(config) != digest
    chat.write_text(original)
    assert kept.digest_of(config) == digest, "the same bytes: the same posts"
    example.config_path.write_text(example.config_path.read_text() + "\n# a comment\n")
    assert kept.digest_of(config) != digest
    brand = example.root / "graphics" / "brand.yaml"
    brand.write_text(brand.read_text() + "\n")
    assert kept.digest_of(load_config(str(example.config_path))) != digest


def test_an_image_counts_in_the_digest_and_the_tools_own_output_does_not(
    example: Project,
) -> None:
    """A post's image is checked when the content is read, so adding, changing or removing
    one is a whole read again; the cache and the cards, wherever they are kept, are not
    content."""
    text = example.config_path.read_text()
    example.config_path.write_text(
        text + "\ncache_dir: content/.cache\ncards_dir: graphics/rendered\n"
    )
    config = load_config(str(example.config_path))
    before = kept.digest_of(config)
    image = example.root / "content" / "images" / "poster.png"
    image.parent.mkdir(exist_ok=True)
    image.write_bytes(b"\x89PNG one")
    added = kept.digest_of(config)
    assert added != before
    image.write_bytes(b"\x89PNG and another")
    assert kept.digest_of(config) != added
    image.unlink()
    assert kept.digest_of(config) == before
    for output in (config.cache_dir / "content-x.json", config.cards_dir / "card.png"):
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(b"the tool's own")
    assert kept.digest_of(config) == before


def test_posts_read_while_a_file_changed_are_not_kept(example: Project) -> None:
    config = load_config(str(example.config_path))
    before = kept.digest_of(config)
    content, result = reviewed(config)
    chat = next((example.root / "content" / "chats").glob("*.yaml"))
    chat.write_text(chat.read_text() + "\n# edited during the read\n")
    kept.remember(config, before, content, result)
    assert kept.recall(config, before) is None
    assert not list(config.cache_dir.glob("content-*.json"))


def test_a_kept_file_that_cannot_be_read_is_not_trusted(example: Project) -> None:
    config = load_config(str(example.config_path))
    digest, _, _ = keep(config)
    (path,) = config.cache_dir.glob("content-*.json")
    good = json.loads(path.read_text())
    wrong_chat = {**good, "chats": [{"id": "no hashtag"}]}
    wrong_post = {**good, "findings": [{"post": 10**6}]}
    for broken in (
        "not json",
        json.dumps({"format": 99}),
        json.dumps({"format": 2, "digest": digest}),
        json.dumps(wrong_chat),
        json.dumps({**good, "posts": [{"key": "k"}]}),
        json.dumps(wrong_post),
    ):
        path.write_text(broken)
        assert kept.recall(config, digest) is None, broken[:40]


def test_a_second_apply_of_unchanged_files_reads_and_reviews_none_of_them(
    example: Project,
) -> None:
    """As a person runs it: a new process, which never loads the content loader or the vision
    rules (only the config is YAML it reads), and says the queue already matches."""
    assert example.run("apply", "--by", "maty").exit_code == 0
    probe = (
        "import sys\n"
        "from chatbot.cli import cli\n"
        "try:\n"
        "    cli(['apply', '--by', 'maty'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith(('chatbot.vision', "
        "'chatbot.content.load'))))\n"
    )
    out = in_new_process(example, probe)
    assert "queue already matches the content" in out and "nothing written" in out
    assert "LOADED []" in out


def test_a_queue_changed_since_the_last_apply_is_planned_not_assumed(example: Project) -> None:
    """The files are the same, but the queue is not what the last apply left (a post's text
    changed under it, a post gone): the kept posts are planned against the queue as it is,
    the plan is not empty, and the apply goes the whole way and puts it right."""
    assert example.run("apply", "--by", "maty").exit_code == 0
    db = open_database(load_config(str(example.config_path)).database_url)
    with db.write() as session:
        key = session.scalars(
            select(Post.key).where(Post.state == PostState.DRAFT).order_by(Post.id)
        ).first()
        session.execute(update(Post).where(Post.key == key).values(content_hash="tampered"))
    result = example.run("apply", "--by", "maty")
    assert result.exit_code == 0 and "nothing written" not in result.output
    assert key in result.output
    with db.read() as session:
        post = session.scalars(select(Post).where(Post.key == key)).one()
        assert post.content_hash != "tampered"
    assert "nothing written" in example.run("apply", "--by", "maty").output
    db.dispose()


def rows(config: Config) -> list[object]:
    """What an apply wrote, without the ids and times of writing."""
    db = open_database(config.database_url)
    with db.read() as session:
        chats = [
            (c.key, c.title, c.hashtag, c.host, c.timezone, c.starts_at, c.follow, c.removed)
            for c in session.scalars(select(Chat).order_by(Chat.key))
        ]
        campaigns = [
            (c.key, c.title, c.removed) for c in session.scalars(select(Campaign).order_by("key"))
        ]
        posts = [
            (
                p.key,
                p.account_key,
                p.text,
                p.scheduled_at,
                p.content_hash,
                p.state,
                p.estimated_cost,
            )
            for p in session.scalars(select(Post).order_by(Post.key))
        ]
    db.dispose()
    return [chats, campaigns, posts]


def test_check_then_apply_writes_what_an_apply_of_the_files_writes(example: Project) -> None:
    """``check`` keeps the content; the ``apply`` after it starts from what was kept (the
    loader never runs) and writes the very rows a whole read writes."""
    config = load_config(str(example.config_path))
    database = example.root / "var" / "chatbot.db"
    empty = database.read_bytes()
    assert example.run("apply", "--by", "maty").exit_code == 0
    whole = rows(config)
    database.write_bytes(empty)
    for path in config.cache_dir.glob("content-*.json"):
        path.unlink()
    assert "READ 1" in probe(example, "check"), "nothing kept: the files are read"
    assert "READ 0" in probe(example, "apply", "--by", "maty")
    assert rows(config) == whole and whole[2]


def probe(example: Project, *argv: str) -> str:
    """``argv`` run as a person runs it, in a new process; prints how often the content files
    were read (``load_content`` called) as ``READ n``."""
    code = (
        "import chatbot.content.load as load\n"
        "from chatbot.cli import cli\n"
        "reads = []\n"
        "whole = load.load_content\n"
        "load.load_content = lambda *a, **k: reads.append(1) or whole(*a, **k)\n"
        "try:\n"
        f"    cli({list(argv)!r})\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('READ', len(reads))\n"
    )
    return in_new_process(example, code)


def in_new_process(example: Project, code: str) -> str:
    """What ``code`` prints, run by a new Python in the project (its own config and database)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=example.root,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_plan_after_check_reads_no_file_and_says_the_same(example: Project) -> None:
    first = example.run("plan")
    assert first.exit_code == 0
    out = probe(example, "plan")
    assert out.endswith("READ 0\n")
    assert out.removesuffix("READ 0\n") == first.output

"""A second apply of unchanged files (``chatbot.queue.applied``): planned from the posts the
first one kept, against the queue as it is now; read and reviewed in full at any change."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import select, update

from chatbot.config import Config, load_config
from chatbot.content.load import load_content
from chatbot.content.model import PostSpec
from chatbot.db.models import Post, PostState
from chatbot.db.session import open_database
from chatbot.queue import applied
from chatbot.queue.plan import spec_cost
from tests.conftest import ROOT, Project


def costs_of(config: Config, posts: list[PostSpec]) -> dict[str, float]:
    return {p.key: spec_cost(p, config) for p in posts}


def test_kept_posts_are_the_posts_the_files_expand_to(example: Project) -> None:
    config = load_config(str(example.config_path))
    posts = load_content(config).posts
    digest = applied.digest_of(config)
    assert applied.recall(config, digest) is None, "nothing kept yet"
    applied.remember(config, digest, posts, costs_of(config, posts))
    kept = applied.recall(config, digest)
    assert kept is not None and kept[0] == posts
    assert kept[1] == {p.key: spec_cost(p, config) for p in posts}


def test_any_change_to_what_the_posts_are_made_of_is_another_digest(example: Project) -> None:
    config = load_config(str(example.config_path))
    digest = applied.digest_of(config)
    posts = load_content(config).posts
    applied.remember(config, digest, posts, costs_of(config, posts))
    chat = next((example.root / "content" / "chats").glob("*.yaml"))
    original = chat.read_text()
    chat.write_text(original.replace("text:", "text: Edited", 1))
    assert applied.digest_of(config) != digest
    chat.write_text(original)
    assert applied.digest_of(config) == digest, "the same bytes: the same posts"
    example.config_path.write_text(example.config_path.read_text() + "\n# a comment\n")
    assert applied.digest_of(config) != digest
    brand = example.root / "graphics" / "brand.yaml"
    brand.write_text(brand.read_text() + "\n")
    assert applied.digest_of(load_config(str(example.config_path))) != digest


def test_posts_read_while_a_file_changed_are_not_kept(example: Project) -> None:
    config = load_config(str(example.config_path))
    before = applied.digest_of(config)
    posts = load_content(config).posts
    chat = next((example.root / "content" / "chats").glob("*.yaml"))
    chat.write_text(chat.read_text() + "\n# edited during the apply\n")
    applied.remember(config, before, posts, costs_of(config, posts))
    assert applied.recall(config, before) is None
    assert not list(config.cache_dir.glob("applied-*.json"))


def test_a_kept_file_that_cannot_be_read_is_not_trusted(example: Project) -> None:
    config = load_config(str(example.config_path))
    digest = applied.digest_of(config)
    posts = load_content(config).posts
    applied.remember(config, digest, posts, costs_of(config, posts))
    (kept,) = config.cache_dir.glob("applied-*.json")
    for broken in ("not json", json.dumps({"format": 99}), json.dumps({"format": 1})):
        kept.write_text(broken)
        assert applied.recall(config, digest) is None


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
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=example.root,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
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

"""Plan, apply, approve, reject and status, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from chatbot.config import load_config
from chatbot.content.load import load_content
from chatbot.db import Approval, AuditEntry, Post, open_database
from chatbot.db.models import PostState
from chatbot.errors import UserError
from chatbot.queue.apply import apply_plan
from chatbot.queue.plan import compute_plan
from chatbot.queue.review import approve, is_approved, reject
from tests.conftest import Project

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)

CHAT = """
id: fr-chat
hashtag: "#LFPchat"
host: lfp
starts_at: 2026-12-03 20:00
interval: 10m
questions:
  - text: {q1}
    card: question
    alt: A card reading Q1
  - text: Who carries the risk?
amplify:
  - account: masslib
    after: 2m
"""

CAMPAIGN = """
id: ban-push
accounts: [lfp]
posts:
  - text: Read the ALA resolution https://www.ala.org/advocacy
    at: 2026-12-07 10:00
  - text: Ask your vendor in writing.
    at: 2026-12-08 10:00
"""


def setup(project: Project, q1: str = "What does face surveillance mean?") -> None:
    project.chat("fr", CHAT.format(q1=q1))
    project.campaign("ban", CAMPAIGN)


def apply(project: Project, by: str = "maty"):  # type: ignore[no-untyped-def]
    config = load_config(str(project.config_path))
    db = open_database(config.database_url)
    with db.write() as session:
        plan = apply_plan(session, load_content(config), config, NOW, by)
    return db, plan


def posts(db) -> dict[str, Post]:  # type: ignore[no-untyped-def]
    with db.read() as session:
        return {p.key: p for p in session.scalars(select(Post))}


def test_apply_is_idempotent_and_records_dependencies(db_project: Project) -> None:
    setup(db_project)
    db, plan = apply(db_project)
    assert len(plan.of("add")) == 6
    rows = posts(db)
    assert rows["fr-chat/q1@masslib"].depends_on_id == rows["fr-chat/q1"].id
    assert rows["fr-chat/q1@masslib"].offset_seconds == 120
    assert rows["fr-chat/q1"].scheduled_at == datetime(2026, 12, 4, 1, 10, tzinfo=UTC)
    assert all(p.state == PostState.DRAFT for p in rows.values())
    # X prices: link post $0.20, plain post $0.015, media metadata $0.005, repost $0.015.
    assert rows["ban-push/p1"].estimated_cost == pytest.approx(0.20)
    assert rows["ban-push/p2"].estimated_cost == pytest.approx(0.015)
    assert rows["fr-chat/q1"].estimated_cost == pytest.approx(0.02)
    with db.read() as session:
        audits_before = session.scalar(select(func.count()).select_from(AuditEntry))
        stamps = {p.key: p.updated_at for p in session.scalars(select(Post))}
    db2, second = apply(db_project)
    assert second.is_empty and second.unchanged == 6
    with db2.read() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == audits_before
        assert {p.key: p.updated_at for p in session.scalars(select(Post))} == stamps


def test_plan_writes_nothing(db_project: Project) -> None:
    setup(db_project)
    config = load_config(str(db_project.config_path))
    db = open_database(config.database_url)
    with db.read() as session:
        plan = compute_plan(session, load_content(config), config, NOW)
    assert len(plan.of("add")) == 6
    assert posts(db) == {}
    assert plan.queue_cost["lfp"] == pytest.approx(0.20 + 0.015 + 0.02 + 0.015)
    assert plan.queue_cost["masslib"] == pytest.approx(2 * 0.015)


def test_edit_voids_approval_but_time_change_does_not(db_project: Project) -> None:
    setup(db_project)
    db, _ = apply(db_project)
    with db.write() as session:
        approve(session, "fr-chat", "alison", "checked against the vision", NOW)
    with db.read() as session:
        q1 = session.scalars(select(Post).where(Post.key == "fr-chat/q1")).one()
        assert q1.state == PostState.APPROVED and is_approved(session, q1)
    # Move the chat by an hour: approvals stay.
    db_project.chat(
        "fr", CHAT.format(q1="What does face surveillance mean?").replace("20:00", "21:00")
    )
    db, plan = apply(db_project)
    assert {c.key for c in plan.of("change")} >= {"fr-chat/q1", "fr-chat/q2"}
    assert not any(c.voids_approval for c in plan.changes)
    assert posts(db)["fr-chat/q1"].state == PostState.APPROVED
    # Edit Q1's text: its approval (and its repost's? no, the repost's content is unchanged) voids.
    db_project.chat(
        "fr", CHAT.format(q1="What does face surveillance mean to you?").replace("20:00", "21:00")
    )
    db, plan = apply(db_project, by="tj")
    assert [c.key for c in plan.changes if c.voids_approval] == ["fr-chat/q1"]
    rows = posts(db)
    assert rows["fr-chat/q1"].state == PostState.DRAFT
    assert rows["fr-chat/q1"].state_reason == "edited after approval: needs a new approval"
    assert rows["fr-chat/q2"].state == PostState.APPROVED
    with db.read() as session:
        voided = session.scalars(
            select(Approval).where(Approval.post_id == rows["fr-chat/q1"].id)
        ).all()
        assert [(a.voided_reason is not None) for a in voided] == [True]
        assert not is_approved(session, rows["fr-chat/q1"])
        actions = [a.action for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert "approval.voided" in actions


def test_sent_posts_are_never_changed_or_removed(db_project: Project) -> None:
    setup(db_project)
    db, _ = apply(db_project)
    with db.write() as session:
        q1 = session.scalars(select(Post).where(Post.key == "fr-chat/q1")).one()
        q1.state = PostState.POSTED
        q1.remote_id = "1860000000000000001"
        q2 = session.scalars(select(Post).where(Post.key == "fr-chat/q2")).one()
        q2.state = PostState.UNKNOWN
    db_project.chat(
        "fr",
        CHAT.format(q1="Edited after it went out").replace("  - text: Who carries the risk?\n", ""),
    )
    db, plan = apply(db_project)
    keep = {c.key: c.note for c in plan.of("keep")}
    assert keep == {
        "fr-chat/q1": "already posted: edits to it are not applied",
        "fr-chat/q2": "removed from content but already unknown: it stays",
    }
    rows = posts(db)
    assert rows["fr-chat/q1"].text == "Q1: What does face surveillance mean? #LFPchat"
    assert rows["fr-chat/q1"].state == PostState.POSTED
    assert rows["fr-chat/q2"].state == PostState.UNKNOWN
    assert rows["fr-chat/q2@masslib"].state == PostState.CANCELLED


def test_removed_then_restored_post_is_re_added_as_draft(db_project: Project) -> None:
    setup(db_project)
    apply(db_project)
    (db_project.root / "content" / "campaigns" / "ban.yaml").unlink()
    db, plan = apply(db_project)
    assert {c.key for c in plan.of("remove")} == {"ban-push/p1", "ban-push/p2"}
    assert posts(db)["ban-push/p1"].state == PostState.CANCELLED
    db_project.campaign("ban", CAMPAIGN)
    db, plan = apply(db_project)
    assert {c.key for c in plan.of("add")} == {"ban-push/p1", "ban-push/p2"}
    assert posts(db)["ban-push/p1"].state == PostState.DRAFT


def test_a_post_a_person_cancelled_stays_cancelled_on_apply(db_project: Project) -> None:
    """``settle --cancel`` is a person's decision: the next apply keeps it (it said "re-added"
    before), says so, and writes nothing; ``settle --retry`` is the way back."""
    from chatbot.queue.settle import settle

    setup(db_project)
    db, _ = apply(db_project)
    with db.write() as session:
        post = session.scalars(select(Post).where(Post.key == "ban-push/p1")).one()
        post.state, post.state_reason = PostState.FAILED, "X said: duplicate content"
    with db.write() as session:
        post = session.scalars(select(Post).where(Post.key == "ban-push/p1")).one()
        settle(session, post, "cancel", "olga", datetime(2026, 12, 1, tzinfo=UTC))
    db, plan = apply(db_project)
    assert plan.is_empty and not plan.of("add")
    [keep] = plan.of("keep")
    assert keep.key == "ban-push/p1"
    assert keep.note.startswith("cancelled by olga: it stays cancelled")
    assert "chatbot settle ban-push/p1 --retry" in keep.note
    assert posts(db)["ban-push/p1"].state == PostState.CANCELLED


def test_reject_then_approve_and_second_person_rule(db_project: Project) -> None:
    setup(db_project)
    db, _ = apply(db_project, by="maty")
    with db.write() as session:
        reject(session, "fr-chat/q2", "alison", "cite the Library Bill of Rights", NOW)
    row = posts(db)["fr-chat/q2"]
    assert row.state == PostState.DRAFT
    assert row.state_reason == "rejected by alison: cite the Library Bill of Rights"
    with db.write() as session, pytest.raises(UserError, match="maty made the last edit"):
        approve(session, "fr-chat/q2", "maty", "", NOW, require_second_person=True)
    with db.write() as session:
        result = approve(session, "fr-chat/q2", "alison", "fixed", NOW, require_second_person=True)
    assert len(result.changed) == 1
    with db.write() as session:
        again = approve(session, "fr-chat/q2", "alison", "fixed", NOW)
    assert again.changed == [] and len(again.unchanged) == 1
    with db.write() as session, pytest.raises(UserError, match="needs --note"):
        reject(session, "fr-chat", "alison", "  ", NOW)
    with db.write() as session, pytest.raises(UserError, match="nothing called 'nope'"):
        approve(session, "nope", "alison", "", NOW)


def test_cli_plan_apply_approve_status(project: Project) -> None:
    setup(project)
    with freeze_time("2026-11-23 12:00:00"):
        planned = project.run("plan")
        assert planned.exit_code == 0, planned.output
        assert "+ fr-chat/q1" in planned.output and "Thu 2026-12-03 20:10 EST" in planned.output
        assert "estimated API cost of the queued posts: $0.28" in planned.output
        applied = project.run("apply", "--by", "maty")
        assert applied.exit_code == 0
        again = project.run("apply")
        assert "nothing written" in again.output
        ok = project.run("approve", "fr-chat", "--by", "alison", "--note", "matches the vision")
        assert ok.exit_code == 0 and "4 posts approved by alison" in ok.output
        status = project.run("status")
        assert status.exit_code == 0 and "approved" in status.output
        rejected = project.run("reject", "ban-push", "--by", "alison", "--note", "drop the link")
        assert "2 posts rejected" in rejected.output


def test_approve_refuses_blocking_findings_and_unapplied_edits(project: Project) -> None:
    setup(project)
    assert project.run("apply").exit_code == 0
    project.chat("fr", CHAT.format(q1="Changed but not applied"))
    result = project.run("approve", "fr-chat/q1", "--by", "alison")
    assert result.exit_code == 1
    assert (
        "fr-chat/q1: the content files differ from the queue; run chatbot apply first"
        in result.output
    )


def test_apply_refuses_error_findings_and_writes_nothing(project: Project) -> None:
    setup(project, q1="Read https://bit.ly/abc")
    project.vision("rules:\n  - {id: no-short, kind: shortener, level: error}\n")
    result = project.run("apply")
    assert result.exit_code == 1
    assert "nothing applied" in result.output and "error no-short" in result.output
    assert not (project.root / "var" / "q.db").exists()
    planned = project.run("plan")
    assert planned.exit_code == 1 and "apply would refuse" in planned.output


def test_two_processes_migrating_a_fresh_database_at_once(fresh_db_url: str) -> None:
    """Worker and web app often start together on a new database."""
    import threading

    from chatbot.db.session import Database

    errors: list[BaseException] = []

    def migrate() -> None:
        db = Database(fresh_db_url)
        try:
            db.upgrade()
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert not open_database(fresh_db_url, migrate=False).needs_upgrade()


def test_migrations_produce_exactly_the_models_schema(fresh_db_url: str) -> None:
    """Every model change comes with its Alembic migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from chatbot.db.models import Base

    db = open_database(fresh_db_url)
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    db.dispose()


def test_the_schema_head_is_alembics_newest_revision() -> None:
    """Commands compare the database's revision with SCHEMA_HEAD instead of loading Alembic;
    a new migration must move it."""
    from alembic.script import ScriptDirectory

    from chatbot.db.session import SCHEMA_HEAD, alembic_config

    assert ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads() == [SCHEMA_HEAD]


def _blast(posts: int) -> str:
    from bench.texts import distinct_texts

    lines = ["id: blast", "accounts: [lfp]", "posts:"]
    for i, text in enumerate(distinct_texts(posts)):
        lines.append(
            f"  - {{id: b{i}, text: '{text}', at: '2026-12-{1 + i % 28:02d} 10:{i % 60:02d}'}}"
        )
    return "\n".join(lines) + "\n"


def test_apply_reads_the_queue_once_and_writes_in_bulk(db_project: Project) -> None:
    """A blast of 1,500 posts: one read of the queue, a few bulk statements (not one per
    post), in one transaction; a second apply writes nothing; an edit voids one approval."""
    from sqlalchemy import event

    from chatbot.queue import apply as apply_module

    db_project.campaign("blast", _blast(1500))
    config = load_config(str(db_project.config_path))
    content = load_content(config)
    db = open_database(config.database_url)
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()).upper())

    event.listen(db.engine, "before_cursor_execute", record)
    with db.write() as session:
        plan = apply_plan(session, content, config, NOW, "maty")
    assert len(plan.of("add")) == 1500
    reads = [s for s in statements if s.startswith("SELECT") and "FROM POSTS" in s]
    id_reads = [s for s in reads if re.match(r'SELECT POSTS.ID, POSTS."?KEY"? FROM', s)]
    inserts = [s for s in statements if s.startswith("INSERT INTO POSTS")]
    assert len(reads) - len(id_reads) == 1, reads  # the queue, once
    assert len(id_reads) == -(-1500 // apply_module.KEY_CHUNK)  # the new posts' ids, by key
    assert 1 <= len(inserts) <= -(-1500 // apply_module.CHUNK)
    assert "RETURNING" not in inserts[0]
    with db.read() as session:
        assert session.scalar(select(func.count(Post.id))) == 1500
    statements.clear()
    with db.write() as session:
        assert apply_plan(session, content, config, NOW, "maty").is_empty
    assert not [s for s in statements if s.startswith(("INSERT", "UPDATE", "DELETE"))]
    with db.write() as session:
        approve(session, "blast", "alison", "ok", NOW)
    db_project.campaign("blast", _blast(1500).replace("(7) ", "(7) Edited: ", 1))
    with db.write() as session:
        plan = apply_plan(session, load_content(config), config, NOW, "maty")
        assert [c.key for c in plan.of("change")] == ["blast/b7"]
    with db.read() as session:
        edited = session.scalars(select(Post).where(Post.key == "blast/b7")).one()
        assert edited.state == PostState.DRAFT and "Edited:" in edited.text
        assert not is_approved(session, edited)
        other = session.scalars(select(Post).where(Post.key == "blast/b8")).one()
        assert is_approved(session, other)
    event.remove(db.engine, "before_cursor_execute", record)
    db.dispose()


def test_the_weekly_summary_counts_posts_links_and_the_plans_costs(example: Project) -> None:
    """Per week and account, from the plan's costs; links found in the texts, or taken from
    what was kept (which wins: it is what the texts held when they were read)."""
    from zoneinfo import ZoneInfo

    from chatbot.queue.plan import weekly_summary
    from chatbot.text import urls_in

    config = load_config(str(example.config_path))
    content = load_content(config)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    ahead = [p for p in content.posts if p.scheduled_at >= now]
    costs = {p.key: 0.25 for p in content.posts}
    weeks = weekly_summary(content, now, ZoneInfo("America/New_York"), costs)
    assert sum(sum(w.posts.values()) + sum(w.reposts.values()) for w in weeks) == len(ahead)
    assert sum(sum(w.cost.values()) for w in weeks) == pytest.approx(0.25 * len(ahead))
    links = sum(sum(w.links.values()) for w in weeks)
    assert links == sum(bool(urls_in(p.text)) for p in ahead) and links > 0
    linked = {p.key: False for p in content.posts}
    kept = weekly_summary(content, now, ZoneInfo("America/New_York"), costs, linked)
    assert sum(sum(w.links.values()) for w in kept) == 0

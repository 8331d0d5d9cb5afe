"""Operator commands (settle, account pause/resume, status) and the timer's semantics."""

from __future__ import annotations

from datetime import UTC, datetime

from freezegun import freeze_time

from chatbot.db.models import PostState
from tests.conftest import Project
from tests.fakehttp import Webhook
from tests.test_queue import setup


def _mark(project: Project, key: str, **values: object) -> None:
    from sqlalchemy import update

    from chatbot.db import Post, open_database

    db = open_database(project.load_config().database_url)
    with db.write() as session:
        session.execute(update(Post).where(Post.key == key).values(**values))
    db.dispose()


def test_settle_actions_and_status_attention(project: Project) -> None:
    setup(project)
    assert project.run("apply").exit_code == 0
    _mark(
        project,
        "fr-chat/q1",
        state=PostState.UNKNOWN,
        held=True,
        state_reason="held for a person: not found on lfp's timeline",
    )
    _mark(project, "fr-chat/q2", state=PostState.FAILED, state_reason="X refused it: too long")
    status = project.run("status")
    assert "needs attention (2):" in status.output
    assert "fr-chat/q1 (lfp): held for a person" in status.output
    wrong = project.run("settle", "fr-chat/q1", "--by", "tj")
    assert wrong.exit_code == 1 and "choose exactly one" in wrong.output
    ok = project.run(
        "settle",
        "fr-chat/q1",
        "--posted-url",
        "https://x.com/libraryfreedom/status/1860000000000000042",
        "--by",
        "tj",
    )
    assert ok.exit_code == 0
    retry = project.run("settle", "fr-chat/q2", "--retry", "--by", "tj")
    assert retry.exit_code == 0
    again = project.run("settle", "fr-chat/q2", "--cancel", "--by", "tj")
    assert again.exit_code == 1 and "only failed, unknown or held posts" in again.output
    data = project.run("status", "--format", "json").output
    import json

    parsed = json.loads(data)
    assert parsed["attention"] == []
    lfp = next(a for a in parsed["accounts"] if a["account"] == "lfp")
    assert lfp["counts"]["posted"] == 1 and lfp["counts"]["queued"] == 1


def test_account_pause_and_resume_are_audited(project: Project) -> None:
    setup(project)
    with freeze_time("2026-11-23 12:00:00"):
        assert (
            project.run(
                "account", "pause", "lfp", "--by", "andrea", "--reason", "rotating keys"
            ).exit_code
            == 0
        )
        assert "paused: lfp: rotating keys" in project.run("status").output
        assert project.run("account", "resume", "lfp", "--by", "andrea").exit_code == 0
        assert "paused:" not in project.run("status").output
    unknown = project.run("account", "pause", "nobody", "--by", "andrea")
    assert unknown.exit_code == 1 and "no account 'nobody'" in unknown.output


def test_notifier_delivers_to_a_webhook_over_http() -> None:
    """`notify.urls` uses Apprise; json:// posts the title and body to a webhook."""

    from chatbot.engine.notify import Notifier

    hook = Webhook().start()
    try:
        notify = Notifier([hook.apprise_url])
        notify(
            "Post fr-chat/q3 failed",
            "X refused it: The `text` field is invalid.",
            post="fr-chat/q3",
        )
    finally:
        hook.stop()
    received = hook.received
    assert received and received[0]["title"] == "Post fr-chat/q3 failed"
    assert "text` field is invalid" in str(received[0]["message"])


def test_status_spend_counts_what_was_sent_this_month_as_the_budget_does(project: Project) -> None:
    setup(project)
    assert project.run("apply").exit_code == 0
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    # Q1 went out this month; the link post went out last month but was touched this month.
    _mark(project, "fr-chat/q1", state=PostState.POSTED, sent_at=now, updated_at=now)
    _mark(
        project,
        "ban-push/p1",
        state=PostState.POSTED,
        sent_at=datetime(2026, 11, 30, 23, tzinfo=UTC),
        updated_at=now,
    )
    with freeze_time(now):
        import json

        data = json.loads(project.run("status", "--format", "json").output)
    lfp = next(a for a in data["accounts"] if a["account"] == "lfp")
    assert lfp["month_spend_usd"] == 0.02  # Q1 with its card; not November's $0.20 link post


def test_status_tables_print_what_the_queue_says_not_rich_markup(example: Project) -> None:
    """A cell is text: a paused account's "[paused]" and a platform's error in square brackets
    are printed as they are, not read as rich markup (which dropped the one and would have
    ended `chat status` with a traceback on a "[/...]")."""
    import sqlite3

    with freeze_time("2026-11-23 12:00:00"):
        assert example.run("apply", "--by", "maty").exit_code == 0
        assert example.run("account", "pause", "lfp", "--by", "maty").exit_code == 0
    reason = "X said [403] [/2/tweets] :warning: forbidden"
    with sqlite3.connect(example.root / "var" / "chatbot.db") as conn:
        conn.execute(
            "UPDATE posts SET state = 'failed', state_reason = ? WHERE key = 'fr-chat/q1'",
            (reason,),
        )
    with freeze_time("2026-11-23 12:00:00"):
        status = example.run("status")
        chat = example.run("chat", "status", "fr-chat")
    assert status.exit_code == 0 and "lfp [paused]" in status.output
    assert chat.exit_code == 0, chat.output
    for part in ("X said [403]", "[/2/tweets]", ":warning: forbidden"):  # wrapped in its cell
        assert part in chat.output

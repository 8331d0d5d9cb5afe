"""The posting engine, one dispatch cycle at a time, with a fake clock and a real HTTP X server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from chatbot.db.models import PostState
from chatbot.engine import claims, store
from tests.enginekit import T0, Engine, clear_credentials, fr_chat
from tests.xserver import XServer

CHAT = fr_chat()


@pytest.fixture
def engine(
    tmp_path: Path, server: XServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    clear_credentials(monkeypatch)
    eng = Engine(tmp_path, db_url, server, server.clock)  # type: ignore[attr-defined]
    eng.content("chats", "fr", CHAT)
    eng.apply_and_approve("fr-chat")
    yield eng
    eng.close()


def texts(server: XServer, user: str) -> list[str]:
    return sorted(t.text for t in server.posts_by(user))


def test_posts_go_out_at_their_time_exactly_once(engine: Engine) -> None:
    dispatcher = engine.dispatcher()
    engine.clock.set(T0 + timedelta(minutes=9, seconds=59))
    assert dispatcher.run_due() == T0 + timedelta(minutes=10)
    assert engine.server.posts_by("libraryfreedom") == []
    assert engine.states()["fr-chat/q1"] == PostState.QUEUED
    engine.clock.set(T0 + timedelta(minutes=10))
    next_wake = dispatcher.run_due()
    [tweet] = engine.server.posts_by("libraryfreedom")
    assert tweet.text == "Q1: What does face surveillance mean for patrons? #LFPchat"
    q1 = engine.post("fr-chat/q1")
    assert (q1.state, q1.remote_id) == (PostState.POSTED, tweet.id)
    assert q1.remote_url == f"https://x.com/libraryfreedom/status/{tweet.id}"
    assert q1.posted_at == T0 + timedelta(minutes=10)
    # The repost is due two minutes after the original was confirmed.
    assert next_wake == T0 + timedelta(minutes=12)
    dispatcher.run_due()
    assert len(engine.server.posts_by("libraryfreedom")) == 1, "never sent twice"


def test_repost_waits_for_its_original(engine: Engine) -> None:
    engine.content(
        "campaigns",
        "c",
        """
        id: c
        accounts: [lfp]
        posts: [{text: Ask your vendor in writing., at: 2026-12-03 20:00}]
        amplify: [{account: masslib, after: 2m}]
    """,
    )
    engine.apply_and_approve("c")
    dispatcher = engine.dispatcher()
    engine.server.inject("POST", "/2/tweets", "429", reset_in=600)
    engine.clock.set(T0)
    dispatcher.run_due()
    assert engine.post("c/p1").state == PostState.QUEUED
    engine.clock.set(T0 + timedelta(minutes=5))  # the repost's planned time (20:02) has passed
    dispatcher.run_due()
    assert engine.server.posts_by("masslib") == []
    assert engine.post("c/p1@masslib").state == PostState.QUEUED
    engine.clock.set(T0 + timedelta(minutes=10))  # reset passed: the original goes
    assert dispatcher.run_due() == T0 + timedelta(minutes=12)
    original = engine.post("c/p1")
    assert (original.state, original.posted_at) == (PostState.POSTED, T0 + timedelta(minutes=10))
    assert engine.server.posts_by("masslib") == []
    engine.clock.set(T0 + timedelta(minutes=12))
    dispatcher.run_due()
    reposts = [t for t in engine.server.posts_by("masslib") if t.retweet_of == original.remote_id]
    assert len(reposts) == 1
    assert engine.post("c/p1@masslib").state == PostState.POSTED


def test_rate_limit_waits_for_reset_while_other_accounts_post(engine: Engine) -> None:
    engine.content(
        "campaigns",
        "c",
        """
        id: c
        accounts: [nela]
        posts: [{text: Ask your vendor in writing., at: 2026-12-03 20:10}]
    """,
    )
    engine.apply_and_approve("c")
    dispatcher = engine.dispatcher()
    engine.server.inject("POST", "/2/tweets", "429", reset_in=60)
    engine.clock.set(T0 + timedelta(minutes=10))
    next_wake = dispatcher.run_due()
    states = engine.states()
    posted = [k for k, s in states.items() if s == PostState.POSTED]
    assert len(posted) == 1, "one of the two due posts hit the 429, the other went out"
    limited = "fr-chat/q1" if "c/p1" in posted else "c/p1"
    account = "lfp" if limited == "fr-chat/q1" else "nela"
    until = T0 + timedelta(minutes=11)
    assert store.accounts(engine.db)[account].rate_limited_until == until
    assert engine.post(limited).state == PostState.QUEUED
    assert next_wake is not None and next_wake <= until
    engine.clock.set(until)
    dispatcher.run_due()
    assert engine.post(limited).state == PostState.POSTED


@pytest.mark.parametrize("fault", ["503_after_create", "drop_after_create"])
def test_unknown_outcome_is_reconciled_not_resent(engine: Engine, fault: str) -> None:
    dispatcher = engine.dispatcher()
    engine.server.inject("POST", "/2/tweets", fault)
    engine.clock.set(T0 + timedelta(minutes=10))
    dispatcher.run_due()
    q1 = engine.post("fr-chat/q1")
    assert q1.state == PostState.UNKNOWN
    assert dispatcher.run_due() == T0 + timedelta(minutes=10, seconds=15)
    engine.clock.set(T0 + timedelta(minutes=10, seconds=15))
    dispatcher.run_due()
    [tweet] = engine.server.posts_by("libraryfreedom")
    q1 = engine.post("fr-chat/q1")
    assert (q1.state, q1.remote_id) == (PostState.POSTED, tweet.id)
    assert "confirmed on the account's timeline" in (q1.state_reason or "")


def test_timeout_is_an_unknown_outcome(
    tmp_path: Path, server: XServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = Engine(tmp_path, f"sqlite:///{tmp_path / 'q.db'}", server, server.clock, timeout=0.3)  # type: ignore[attr-defined]
    eng.content("chats", "fr", CHAT)
    eng.apply_and_approve("fr-chat")
    server.inject("POST", "/2/tweets", "hang_after_create", delay=1.0)
    eng.clock.set(T0 + timedelta(minutes=10))
    dispatcher = eng.dispatcher()
    dispatcher.run_due()
    q1 = eng.post("fr-chat/q1")
    assert q1.state == PostState.UNKNOWN and "did not answer within 0.3s" in (q1.state_reason or "")
    eng.clock.advance(timedelta(seconds=15))
    dispatcher.run_due()
    assert eng.post("fr-chat/q1").state == PostState.POSTED
    assert len(server.posts_by("libraryfreedom")) == 1
    eng.close()


def test_duplicate_content_is_reconciled_to_the_existing_post(engine: Engine) -> None:
    # Someone already posted the exact text by hand: X refuses the duplicate.
    engine.clock.set(T0 + timedelta(minutes=9))
    from chatbot.publishers.base import OutgoingPost

    by_hand = (
        engine.dispatcher()
        .publishers["lfp"]
        .publish(
            OutgoingPost("manual", "Q1: What does face surveillance mean for patrons? #LFPchat")
        )
    )
    engine.clock.set(T0 + timedelta(minutes=10))
    dispatcher = engine.dispatcher()
    dispatcher.run_due()  # refused as a duplicate, then reconciled at once in the same cycle
    q1 = engine.post("fr-chat/q1")
    assert (q1.state, q1.remote_id) == (PostState.POSTED, by_hand.remote_id)
    assert q1.state_reason == "confirmed on the account's timeline after an unknown outcome"
    assert len(engine.server.posts_by("libraryfreedom")) == 1


def test_unsettled_post_is_held_for_a_person_and_never_resent(engine: Engine) -> None:
    # The request went out, X answered 503, and the post never appeared.
    engine.server.inject("POST", "/2/tweets", "503_after_create")
    dispatcher = engine.dispatcher()
    engine.clock.set(T0 + timedelta(minutes=10))
    dispatcher.run_due()
    for tweet in engine.server.posts_by("libraryfreedom"):
        del engine.server.tweets[tweet.id]  # the post never really appeared
    for _ in range(3):
        engine.clock.advance(timedelta(seconds=15))
        dispatcher.run_due()
    q1 = engine.post("fr-chat/q1")
    assert q1.state == PostState.UNKNOWN and q1.held
    assert "held for a person" in (q1.state_reason or "")
    assert engine.notifier.sent[-1][0] == "Post fr-chat/q1 needs a person"
    engine.clock.advance(timedelta(minutes=5))
    dispatcher.run_due()
    assert engine.server.posts_by("libraryfreedom") == [], "never resent automatically"
    assert engine.post("fr-chat/q1@masslib").state == PostState.QUEUED  # waits on its original


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("401", "X rejected the credentials"),
        ("usage_capped", "X usage cap reached"),
    ],
)
def test_unauthorized_or_capped_pauses_the_account_and_tells_a_person(
    engine: Engine, fault: str, reason: str
) -> None:
    dispatcher = engine.dispatcher()
    engine.server.inject("POST", "/2/tweets", fault)
    engine.clock.set(T0 + timedelta(minutes=10))
    dispatcher.run_due()
    account = store.accounts(engine.db)["lfp"]
    assert account.paused and reason in (account.paused_reason or "")
    assert engine.post("fr-chat/q1").state == PostState.QUEUED
    assert engine.notifier.sent[-1][0] == "Account lfp paused"
    engine.clock.advance(timedelta(seconds=30))
    dispatcher.run_due()
    assert engine.server.posts_by("libraryfreedom") == []
    store.update_account(engine.db, "lfp", paused=False, paused_reason=None)
    dispatcher.run_due()
    assert engine.post("fr-chat/q1").state == PostState.POSTED


def test_bad_request_fails_with_xs_message(engine: Engine) -> None:
    dispatcher = engine.dispatcher()
    engine.server.inject("POST", "/2/tweets", "400")
    engine.clock.set(T0 + timedelta(minutes=10))
    dispatcher.run_due()
    q1 = engine.post("fr-chat/q1")
    assert q1.state == PostState.FAILED
    assert q1.state_reason == "X refused it: The `text` field is invalid."
    assert engine.notifier.sent[-1] == ("Post fr-chat/q1 failed", q1.state_reason)
    # Its repost is skipped: there is nothing to repost.
    engine.clock.advance(timedelta(minutes=5))
    dispatcher.run_due()
    repost = engine.post("fr-chat/q1@masslib")
    assert repost.state == PostState.SKIPPED and "original was failed" in (
        repost.state_reason or ""
    )


def test_lateness_window_after_downtime(engine: Engine) -> None:
    engine.content(
        "campaigns",
        "c",
        """
        id: c
        accounts: [nela]
        posts: [{text: Ask your vendor in writing., at: 2026-12-03 20:00}]
    """,
    )
    engine.apply_and_approve("c")
    engine.clock.set(T0 + timedelta(minutes=23))  # Q1 (20:10) and Q2 (20:20) are late
    engine.dispatcher().run_due()
    q1, q2 = engine.post("fr-chat/q1"), engine.post("fr-chat/q2")
    assert q1.state == PostState.SKIPPED
    assert q1.state_reason == (
        "due 2026-12-03 20:10:00Z but the worker reached it 13m late, "
        "past the 2m lateness window for chat posts"
    )
    assert q2.state == PostState.SKIPPED
    assert engine.post("c/p1").state == PostState.POSTED  # 23 minutes late is fine for a campaign
    assert texts(engine.server, "nelib") == ["Ask your vendor in writing."]


def test_monthly_budget_holds_posts_that_would_exceed_it(tmp_path: Path, server: XServer) -> None:
    eng = Engine(tmp_path, f"sqlite:///{tmp_path / 'q.db'}", server, server.clock, budget=0.02)  # type: ignore[attr-defined]
    eng.content("chats", "fr", CHAT)
    eng.apply_and_approve("fr-chat")
    dispatcher = eng.dispatcher()
    eng.clock.set(T0 + timedelta(minutes=10))
    dispatcher.run_due()
    eng.clock.set(T0 + timedelta(minutes=20))
    dispatcher.run_due()
    q2 = eng.post("fr-chat/q2")
    assert eng.post("fr-chat/q1").state == PostState.POSTED
    assert q2.held and q2.state == PostState.QUEUED
    assert "over its $0.02 budget" in (q2.state_reason or "")
    assert eng.notifier.sent[-1][0] == "Post fr-chat/q2 held: over budget"
    eng.close()


IMAGE_CAMPAIGN = """
id: c
accounts: [nela]
posts:
  - text: Read the resolution
    image: images/card.png
    alt: Quote card with the ALA resolution text
    at: 2026-12-03 20:00
"""


def test_media_upload_with_alt_text(engine: Engine) -> None:
    image = engine.root / "content" / "images" / "card.png"
    image.parent.mkdir(parents=True)
    Image.new("RGB", (1600, 900), "#1d3557").save(image)
    engine.content("campaigns", "c", IMAGE_CAMPAIGN)
    engine.apply_and_approve("c")
    engine.clock.set(T0)
    engine.dispatcher().run_due()
    [tweet] = engine.server.posts_by("nelib")
    [media_id] = tweet.media_ids
    assert engine.server.media[media_id]["alt_text"] == "Quote card with the ALA resolution text"
    assert engine.server.media[media_id]["bytes"] == image.stat().st_size


def test_the_worker_checks_an_image_again_before_uploading_it(
    engine: Engine, tmp_path: Path
) -> None:
    """Approved as a real image inside the content folder, then swapped for a link to the
    deployment's .env: the worker refuses it before any upload and a person is told."""
    image = engine.root / "content" / "images" / "card.png"
    image.parent.mkdir(parents=True)
    Image.new("RGB", (1600, 900), "#1d3557").save(image)
    engine.content("campaigns", "c", IMAGE_CAMPAIGN)
    engine.apply_and_approve("c")
    secret = tmp_path / ".env"
    secret.write_text("LFP_ACCESS_SECRET=do-not-upload\n")
    image.unlink()
    image.symlink_to(secret)
    engine.clock.set(T0)
    engine.dispatcher().run_due()
    post = engine.post("c/p1")
    assert post.state == PostState.FAILED
    assert "points outside the content folder" in (post.state_reason or "")
    assert engine.server.media == {} and engine.server.posts_by("nelib") == []
    assert engine.notifier.sent[-1][0] == "Post c/p1 failed"


def test_expired_lease_is_reconciled_not_resent(engine: Engine) -> None:
    engine.clock.set(T0 + timedelta(minutes=10))
    store.promote_approved(engine.db, engine.clock.now())
    claimed = claims.claim_many(
        engine.db, [engine.post("fr-chat/q1").id], engine.clock.now(), timedelta(minutes=2)
    )
    assert len(claimed) == 1
    # The claiming worker sent the post, then died before recording it.
    engine.dispatcher().publishers["lfp"].publish(
        __import__("chatbot.publishers.base", fromlist=["OutgoingPost"]).OutgoingPost(
            "x", "Q1: What does face surveillance mean for patrons? #LFPchat"
        )
    )
    dispatcher = engine.dispatcher()
    dispatcher.run_due()
    assert engine.post("fr-chat/q1").state == PostState.SENDING, "lease still valid"
    engine.clock.advance(timedelta(minutes=2, seconds=1))
    dispatcher.run_due()
    assert engine.post("fr-chat/q1").state == PostState.POSTED
    assert len(engine.server.posts_by("libraryfreedom")) == 1
    assert (
        claims.claim_many(
            engine.db, [engine.post("fr-chat/q1").id], engine.clock.now(), timedelta(1)
        )
        == []
    )


def test_thread_replies_fall_back_to_standalone_when_x_refuses(engine: Engine) -> None:
    engine.content("chats", "fr", fr_chat(extra="thread: true\n"))
    engine.apply_and_approve("fr-chat")
    dispatcher = engine.dispatcher()
    engine.clock.set(T0 + timedelta(minutes=10))
    dispatcher.run_due()
    engine.server.inject("POST", "/2/tweets", "reply_refused")
    engine.clock.set(T0 + timedelta(minutes=20))
    dispatcher.run_due()
    q1, q2 = engine.post("fr-chat/q1"), engine.post("fr-chat/q2")
    assert q2.state == PostState.POSTED
    tweets = {t.id: t for t in engine.server.posts_by("libraryfreedom")}
    assert tweets[q2.remote_id].reply_to is None  # type: ignore[index]
    assert q1.remote_id in tweets


def test_thread_replies_to_the_previous_question(engine: Engine) -> None:
    engine.content("chats", "fr", fr_chat(extra="thread: true\n"))
    engine.apply_and_approve("fr-chat")
    dispatcher = engine.dispatcher()
    engine.clock.set(T0 + timedelta(minutes=10))
    dispatcher.run_due()
    engine.clock.set(T0 + timedelta(minutes=20))
    dispatcher.run_due()
    q1, q2 = engine.post("fr-chat/q1"), engine.post("fr-chat/q2")
    tweets = {t.id: t for t in engine.server.posts_by("libraryfreedom")}
    assert tweets[q2.remote_id].reply_to == q1.remote_id  # type: ignore[index]


def test_a_cycle_reads_only_due_posts_and_knows_the_next_time(engine: Engine) -> None:
    store.promote_approved(engine.db, T0)
    assert store.candidates(engine.db, T0) == []  # Q1 is due at 20:10: nothing read now
    assert store.next_due(engine.db, T0) == T0 + timedelta(minutes=10)
    due = store.candidates(engine.db, T0 + timedelta(minutes=10))
    assert [c.key for c in due] == ["fr-chat/q1"]
    store.update_account(engine.db, "lfp", paused=True)
    assert store.candidates(engine.db, T0 + timedelta(minutes=10)) == []


def test_a_cycle_walks_the_due_indexes_and_sorts_nothing(engine: Engine) -> None:
    """The reads of a cycle stop at their limit: on SQLite each walks its index in the order
    posts are sent, with no sort of every due row and no scan of every queued post. (The plan
    is SQLite's own; PostgreSQL chooses by its statistics.)"""
    if engine.db.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL plans by its statistics")
    from sqlalchemy import event

    statements: list[tuple[str, object]] = []

    def record(conn: object, cursor: object, sql: str, params: object, *_: object) -> None:
        statements.append((sql, params))

    store.promote_approved(engine.db, T0)
    event.listen(engine.db.engine, "before_cursor_execute", record)
    try:
        store.candidates(engine.db, T0 + timedelta(minutes=10), limit=4)
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", record)
    plans = []
    with engine.db.engine.connect() as conn:
        for sql, params in statements:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue  # the transaction's own statements
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)  # type: ignore[arg-type]
            plans.append(" | ".join(str(row[3]) for row in rows))
    assert len(plans) == 2, plans
    assert "USING INDEX ix_posts_due_originals" in plans[0]
    assert "USING INDEX ix_posts_due_dependents" in plans[1]
    assert not any("TEMP B-TREE" in plan or "SCAN posts" in plan for plan in plans), plans


def test_card_is_rendered_and_uploaded_with_its_alt_text(engine: Engine) -> None:
    engine.content(
        "chats",
        "fr",
        CHAT.replace(
            "  - text: Who carries the risk?",
            "  - text: Who carries the risk?\n    card: question\n    alt: Purple card reading Q2, Who carries the risk?",
        ),
    )
    engine.apply_and_approve("fr-chat")
    engine.clock.set(T0 + timedelta(minutes=20))
    engine.dispatcher().run_due()
    q2 = engine.post("fr-chat/q2")
    assert q2.state == PostState.POSTED
    tweet = engine.server.tweets[q2.remote_id]  # type: ignore[index]
    [media_id] = tweet.media_ids
    assert (
        engine.server.media[media_id]["alt_text"] == "Purple card reading Q2, Who carries the risk?"
    )
    cards = list((engine.root / "var" / "cards").glob("question-*.png"))
    assert len(cards) == 1 and engine.server.media[media_id]["bytes"] == cards[0].stat().st_size


def test_outcomes_recorded_together_share_one_commit_and_a_bad_one_fails_alone(
    engine: Engine,
) -> None:
    """Group commit (``claims._GroupCommit``): outcomes that arrive while one is being written
    are written together in the next transaction; each is recorded as on its own, and one
    that cannot be written fails only its own post."""
    import threading

    from sqlalchemy import event, select

    from chatbot.db.models import Post

    now = T0 + timedelta(hours=2)
    store.promote_approved(engine.db, now)
    with engine.db.read() as session:
        ids = list(session.scalars(select(Post.id).where(Post.state == PostState.QUEUED)))
    sending = claims.claim_many(engine.db, ids, now, timedelta(minutes=2))
    assert len(sending) >= 4
    group = claims._group_of(engine.db)

    def finish_together(posts: list[claims.Sending], bad: str | None) -> tuple[dict, int]:  # type: ignore[type-arg]
        commits: list[int] = []

        def count(_conn: object) -> None:
            commits.append(1)

        event.listen(engine.db.engine, "commit", count)
        with group._lock:  # a transaction is under way: what arrives now waits for the next
            group._writing = True
        results: dict[str, object] = {}

        def finish(post: claims.Sending) -> None:
            extra = {"no_such_column": 1} if post.key == bad else {}
            try:
                results[post.key] = claims.finish(
                    engine.db, post.claim, now, PostState.POSTED, remote_id=f"r-{post.key}", **extra
                )
            except Exception as exc:
                results[post.key] = exc

        threads = [threading.Thread(target=finish, args=(post,)) for post in posts]
        for thread in threads:
            thread.start()
        while len(group._pending) < len(posts):  # every outcome has arrived and waits
            threading.Event().wait(0.01)
        group._write_pending()  # the one under way ends: this thread writes what waits
        for thread in threads:
            thread.join(10)
        event.remove(engine.db.engine, "commit", count)
        return results, len(commits)

    half = len(sending) // 2
    results, commits = finish_together(sending[:half], None)
    assert set(results.values()) == {True} and len(results) == half
    assert commits == 1, "one transaction for all of them"
    bad = sending[half].key
    results, commits = finish_together(sending[half:], bad)
    assert isinstance(results.pop(bad), Exception)
    assert set(results.values()) == {True}
    assert commits == len(sending) - half - 1, "the shared one failed: each again on its own"
    assert engine.post(bad).state == PostState.SENDING, "left for its lease: never lost"
    posted = [p.key for p in sending if p.key != bad]
    assert {engine.post(key).state for key in posted} == {PostState.POSTED}


@pytest.mark.parametrize("until_idle", [True, False])
def test_only_a_worker_run_until_idle_looks_again_when_its_last_send_ends(
    engine: Engine, until_idle: bool
) -> None:
    """A repost nothing waits on: when its send ends and none is left under way, a worker run
    `--until-idle` looks again at once (to see it is done); one that runs for good does not
    (a second whole cycle for every post of a spread; its refresh check sees the outcome)."""
    from concurrent.futures import ThreadPoolExecutor

    engine.clock.set(T0 + timedelta(minutes=10))
    engine.dispatcher().run_due()  # Q1 goes out; its repost is due two minutes later
    engine.clock.set(T0 + timedelta(minutes=12))
    wakes: list[int] = []
    with ThreadPoolExecutor(2) as pool:
        dispatcher = engine.dispatcher(pool, lambda: wakes.append(1), until_idle)
        dispatcher.run_due()
        assert dispatcher.wait_for_sends(10, queued_too=True)
    assert engine.states()["fr-chat/q1@masslib"] == PostState.POSTED
    assert len(wakes) == (1 if until_idle else 0)

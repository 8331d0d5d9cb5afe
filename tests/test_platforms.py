"""Mastodon and Bluesky: each publisher over real HTTP against a loopback server speaking the
platform's own API (Mastodon.py and the atproto SDK on the client side), and one chat delivered
to X, Mastodon and Bluesky accounts by the engine in one run."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from chatbot.config import load_config
from chatbot.connect.publishers import build_publishers
from chatbot.content.load import load_content
from chatbot.counting import find_facets
from chatbot.db import Post, open_database
from chatbot.db.models import PostState
from chatbot.engine.clock import FakeClock
from chatbot.engine.dispatcher import Dispatcher
from chatbot.engine.notify import Notifier
from chatbot.errors import ConfigError
from chatbot.publishers.base import (
    BadRequest,
    DuplicateContent,
    Media,
    OutcomeUnknown,
    OutgoingPost,
    RateLimited,
    TransientError,
    Unauthorized,
)
from chatbot.publishers.bluesky import BlueskyPublisher, record_key
from chatbot.publishers.mastodon import MastodonPublisher, clear_instance_cache, status_text
from chatbot.queue.apply import apply_plan
from chatbot.queue.review import approve
from tests.blueskyserver import BlueskyServer
from tests.conftest import ROOT, write
from tests.enginekit import T0, clear_credentials
from tests.mastodonserver import MastodonServer
from tests.xserver import XServer

NOW = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def masto(clock: FakeClock) -> Iterator[MastodonServer]:
    clear_instance_cache()
    srv = MastodonServer(now=clock.now).start()
    yield srv
    srv.stop()
    clear_instance_cache()


@pytest.fixture
def bsky(clock: FakeClock) -> Iterator[BlueskyServer]:
    srv = BlueskyServer(now=clock.now).start()
    yield srv
    srv.stop()


@pytest.fixture
def card(tmp_path: Path) -> Path:
    path = tmp_path / "card.png"
    Image.new("RGB", (1200, 675), "#1b2a4a").save(path)
    return path


def mastodon_publisher(srv: MastodonServer, name: str = "lfp", **kw: object) -> MastodonPublisher:
    account = srv.add_account(name)
    return MastodonPublisher(
        name,
        f"@{name}",
        access_token=account.token,
        instance_url=srv.url,
        **kw,  # type: ignore[arg-type]
    )


def bluesky_publisher(
    srv: BlueskyServer, clock: FakeClock, handle: str = "lfp.bsky.social", **kw: object
) -> BlueskyPublisher:
    account = srv.add_account(handle)
    return BlueskyPublisher(
        handle.split(".")[0],
        f"@{handle}",
        app_password=account.app_password,
        base_url=srv.url,
        now=clock.now,
        **kw,  # type: ignore[arg-type]
    )


# -- Mastodon ------------------------------------------------------------------------------------


def test_mastodon_status_with_media_alt_text_and_visibility(
    masto: MastodonServer, card: Path
) -> None:
    publisher = mastodon_publisher(masto, visibility="unlisted")
    published = publisher.publish(
        OutgoingPost("fr-chat/q1", "Q1: Who decides? #LFPchat", (Media(card, "A navy card"),))
    )
    [status] = masto.statuses_by("lfp")
    assert published.remote_id == status.id
    assert published.url == f"{masto.url}/@lfp/{status.id}"
    assert status.text == "Q1: Who decides? #LFPchat"
    assert status.visibility == "unlisted"
    [media_id] = status.media_ids
    assert masto.media[media_id]["description"] == "A navy card"


def test_mastodon_retry_with_the_same_idempotency_key_creates_nothing_new(
    masto: MastodonServer,
) -> None:
    publisher = mastodon_publisher(masto, timeout=0.3)
    post = OutgoingPost("fr-chat/q1", "Q1: Who decides? #LFPchat")
    masto.inject("POST", "/api/v1/statuses", "hang_after_create", delay=1.0)
    with pytest.raises(OutcomeUnknown, match=r"did not answer within 0\.3s"):
        publisher.publish(post)
    again = publisher.publish(post)
    [status] = masto.statuses_by("lfp")
    assert again.remote_id == status.id, "the server answered with the first status"
    # An edited post is a new post: a new key, a new status.
    publisher.publish(OutgoingPost("fr-chat/q1", "Q1: Who decides, and how? #LFPchat"))
    assert len(masto.statuses_by("lfp")) == 2


def test_mastodon_reads_the_instance_limit_once_and_refuses_longer_posts_before_sending(
    clock: FakeClock,
) -> None:
    clear_instance_cache()
    srv = MastodonServer(max_characters=60, url_weight=23, now=clock.now).start()
    try:
        publisher = mastodon_publisher(srv)
        publisher.publish(OutgoingPost("a", "short one"))
        publisher.publish(OutgoingPost("b", "short two"))
        # The link counts 23 whatever its length: 36 + 1 + 23 = 60 fits exactly.
        publisher.publish(OutgoingPost("c", "x" * 36 + " https://example.org/" + "long" * 20))
        assert srv.requests_to("/api/v2/instance") == 1
        with pytest.raises(BadRequest, match=r"61 characters as .* counts them; it allows 60"):
            publisher.publish(OutgoingPost("d", "y" * 61))
        assert len(srv.statuses_by("lfp")) == 3, "the long post was never sent"
    finally:
        srv.stop()
        clear_instance_cache()


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        ("429", RateLimited, "rate limited"),
        ("401", Unauthorized, "rejected the access token"),
        ("503_after_create", OutcomeUnknown, "server error 503"),
        ("drop_after_create", OutcomeUnknown, "lost"),
    ],
)
def test_mastodon_errors_are_translated(
    masto: MastodonServer, fault: str, error: type[Exception], message: str
) -> None:
    publisher = mastodon_publisher(masto)
    publisher.check_credentials()
    masto.inject("POST", "/api/v1/statuses", fault, reset_in=120)
    with pytest.raises(error, match=message) as caught:
        publisher.publish(OutgoingPost("a", "Face surveillance has no place in libraries."))
    if isinstance(caught.value, RateLimited):
        # Mastodon.py shifts the announced reset by the skew between the server's Date header
        # and the local clock (under a second here).
        assert caught.value.reset_at is not None
        expected = masto.now() + timedelta(seconds=120)
        assert abs(caught.value.reset_at - expected) < timedelta(seconds=2)


def test_mastodon_unreachable_instance_is_transient() -> None:
    publisher = MastodonPublisher("lfp", access_token="t", instance_url="http://127.0.0.1:9")
    with pytest.raises(TransientError, match="cannot reach"):
        publisher.publish(OutgoingPost("a", "hello"))


def test_mastodon_boost_and_timeline_read_back(masto: MastodonServer) -> None:
    host = mastodon_publisher(masto, "lfp")
    partner = mastodon_publisher(masto, "masslib")
    original = host.publish(
        OutgoingPost("q1", "Line one & <two>\n\nParagraph https://e.org #LFPchat")
    )
    partner.publish(OutgoingPost("q1@masslib", repost_of=original.remote_id))
    [mine] = host.recent_posts(NOW - timedelta(minutes=5))
    assert mine.text == "Line one & <two>\n\nParagraph https://e.org #LFPchat"
    [boost] = partner.recent_posts(NOW - timedelta(minutes=5))
    assert boost.repost_of == original.remote_id and boost.text == ""
    assert status_text("<p>a<br />b</p><p>c &amp; d</p>") == "a\nb\n\nc & d"


# -- Bluesky -------------------------------------------------------------------------------------


def test_facets_count_utf8_bytes_through_emoji_and_accents() -> None:
    text = "Bibliothèques 📚🧑‍🧑‍🧒 : lisez https://lfp.example/fr?x=1. #VieprivéeEnBibli @bib.bsky.social!"
    facets = find_facets(text)
    raw = text.encode("utf-8")
    spans = [(f.kind, raw[f.byte_start : f.byte_end].decode("utf-8")) for f in facets]
    assert spans == [
        ("link", "https://lfp.example/fr?x=1"),
        ("tag", "#VieprivéeEnBibli"),
        ("mention", "@bib.bsky.social"),
    ]
    # Character offsets would be wrong: the accents and emoji take more than one byte each.
    assert facets[0].byte_start != text.index("https")


def test_bluesky_post_has_clickable_facets_image_alt_and_one_login(
    bsky: BlueskyServer, clock: FakeClock, card: Path
) -> None:
    bsky.add_account("masslib.bsky.social")
    publisher = bluesky_publisher(bsky, clock)
    text = (
        "Q1: Café 📚 https://lfp.example #LFPchat with @masslib.bsky.social and @nobody.bsky.social"
    )
    published = publisher.publish(
        OutgoingPost("q1", text, (Media(card, "A navy card reading Q1"),), scheduled_at=T0)
    )
    second = publisher.publish(
        OutgoingPost(
            "q2", "Q2: @masslib.bsky.social, @nobody.bsky.social? #LFPchat", scheduled_at=T0
        )
    )
    assert len(bsky.records[second.remote_id].value["facets"]) == 2
    # Each handle is resolved once, whether it resolves or not.
    assert bsky.requests_to("/xrpc/com.atproto.identity.resolveHandle") == 2
    record = bsky.records[published.remote_id].value
    raw = record["text"].encode()
    features = [
        (
            f["features"][0]["$type"].rsplit("#", 1)[1],
            raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(),
        )
        for f in record["facets"]
    ]
    assert features == [
        ("link", "https://lfp.example"),
        ("tag", "#LFPchat"),
        ("mention", "@masslib.bsky.social"),
    ], "an unresolvable handle stays plain text"
    [image] = record["embed"]["images"]
    assert image["alt"] == "A navy card reading Q1"
    assert image["aspectRatio"] == {
        "$type": "app.bsky.embed.defs#aspectRatio",
        "width": 1200,
        "height": 675,
    }
    assert image["image"]["ref"]["$link"] in bsky.blobs
    assert record["createdAt"].startswith("2026-12-03T19:00:00")
    assert published.url.startswith("https://bsky.app/profile/lfp.bsky.social/post/")
    assert bsky.requests_to("/xrpc/com.atproto.server.createSession") == 1
    assert publisher.logins == 1


def test_bluesky_session_is_refreshed_not_logged_in_again(clock: FakeClock) -> None:
    # Access tokens that expire within the SDK's 15-minute margin: each call refreshes first.
    srv = BlueskyServer(access_ttl=300, now=clock.now).start()
    try:
        publisher = bluesky_publisher(srv, clock)
        for n in range(3):
            publisher.publish(OutgoingPost(f"p{n}", f"post {n}", scheduled_at=T0))
        assert srv.requests_to("/xrpc/com.atproto.server.createSession") == 1
        assert srv.requests_to("/xrpc/com.atproto.server.refreshSession") >= 3
        assert len(srv.posts_by("lfp.bsky.social")) == 3
    finally:
        srv.stop()


def test_bluesky_large_card_is_reencoded_under_the_limit(clock: FakeClock, tmp_path: Path) -> None:
    srv = BlueskyServer(max_blob=60_000, now=clock.now).start()
    try:
        noisy = tmp_path / "noisy.png"
        Image.effect_noise((800, 450), 90).convert("RGB").save(noisy)
        assert noisy.stat().st_size > 60_000
        publisher = bluesky_publisher(srv, clock, max_image_bytes=60_000)
        published = publisher.publish(
            OutgoingPost("p", "card", (Media(noisy, "Grey noise"),), scheduled_at=T0)
        )
        [image] = srv.records[published.remote_id].value["embed"]["images"]
        blob = srv.blobs[image["image"]["ref"]["$link"]]
        assert len(blob) <= 60_000 and blob[:3] == b"\xff\xd8\xff", "re-encoded as JPEG"
        assert image["alt"] == "Grey noise"
    finally:
        srv.stop()


def test_bluesky_retry_of_the_same_post_cannot_create_a_second_record(
    bsky: BlueskyServer, clock: FakeClock
) -> None:
    publisher = bluesky_publisher(bsky, clock, timeout=0.3)
    post = OutgoingPost("q1", "Q1: Who decides? #LFPchat", scheduled_at=T0)
    bsky.inject("POST", "/xrpc/com.atproto.repo.createRecord", "hang_after_create", delay=1.0)
    with pytest.raises(OutcomeUnknown):
        publisher.publish(post)
    with pytest.raises(DuplicateContent, match="already exists"):
        publisher.publish(post)
    [record] = bsky.posts_by("lfp.bsky.social")
    assert record.uri.endswith("/" + record_key(T0, post.idempotency_key("lfp")))


def test_bluesky_repost_and_feed_read_back(bsky: BlueskyServer, clock: FakeClock) -> None:
    host = bluesky_publisher(bsky, clock, "lfp.bsky.social")
    partner = bluesky_publisher(bsky, clock, "masslib.bsky.social")
    original = host.publish(OutgoingPost("q1", "Q1: Who decides? #LFPchat", scheduled_at=T0))
    partner.publish(OutgoingPost("q1@masslib", repost_of=original.remote_id, scheduled_at=T0))
    [repost] = bsky.posts_by("masslib.bsky.social", "app.bsky.feed.repost")
    assert repost.value["subject"] == {
        "$type": "com.atproto.repo.strongRef",
        "uri": original.remote_id,
        "cid": bsky.records[original.remote_id].cid,
    }
    [seen] = partner.recent_posts(NOW - timedelta(minutes=5))
    assert seen.repost_of == original.remote_id
    [mine] = host.recent_posts(NOW - timedelta(minutes=5))
    assert mine.text == "Q1: Who decides? #LFPchat" and mine.remote_id == original.remote_id


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        ("429", RateLimited, "rate limited"),
        ("401", Unauthorized, "rejected"),
        ("500", OutcomeUnknown, "server error 500"),
        ("drop_after_create", OutcomeUnknown, "lost"),
    ],
)
def test_bluesky_errors_are_translated(
    bsky: BlueskyServer, clock: FakeClock, fault: str, error: type[Exception], message: str
) -> None:
    publisher = bluesky_publisher(bsky, clock)
    publisher.check_credentials()
    bsky.inject("POST", "/xrpc/com.atproto.repo.createRecord", fault, reset_in=120)
    with pytest.raises(error, match=message) as caught:
        publisher.publish(OutgoingPost("a", "No face surveillance.", scheduled_at=T0))
    if isinstance(caught.value, RateLimited):
        assert caught.value.reset_at is not None
        assert caught.value.reset_at > datetime.now(UTC) + timedelta(seconds=100)


def test_bluesky_refuses_more_than_300_graphemes_before_sending(
    bsky: BlueskyServer, clock: FakeClock
) -> None:
    publisher = bluesky_publisher(bsky, clock)
    # 300 graphemes, each a family emoji of several code points: fits exactly.
    publisher.publish(OutgoingPost("a", "🧑‍🧑‍🧒" * 300, scheduled_at=T0))
    with pytest.raises(BadRequest, match="301 graphemes; Bluesky allows 300"):
        publisher.publish(OutgoingPost("b", "é" * 301, scheduled_at=T0))
    assert len(bsky.posts_by("lfp.bsky.social")) == 1


def test_bluesky_wrong_app_password_is_unauthorized(bsky: BlueskyServer) -> None:
    bsky.add_account("lfp.bsky.social")
    publisher = BlueskyPublisher("lfp", "@lfp.bsky.social", app_password="wrong", base_url=bsky.url)
    with pytest.raises(Unauthorized, match="Invalid identifier or password"):
        publisher.check_credentials()


# -- one chat on three platforms, through the engine ---------------------------------------------

MULTI_CONFIG = """
timezone: UTC
database_url: {db}
publisher: live
accounts:
  lfp: {{platform: x, handle: "@libraryfreedom", env_prefix: LFP}}
  lfp_masto: {{platform: mastodon, handle: "@lfp", env_prefix: LFPM, instance_url: {masto}}}
  lfp_bsky: {{platform: bluesky, handle: "@lfp.bsky.social", env_prefix: LFPB, instance_url: {bsky}}}
  masslib: {{platform: x, handle: "@masslib", env_prefix: MASSLIB}}
  masslib_masto: {{platform: mastodon, handle: "@masslib", env_prefix: MASSLIBM, instance_url: {masto}}}
  masslib_bsky: {{platform: bluesky, handle: "@masslib.bsky.social", env_prefix: MASSLIBB, instance_url: {bsky}}}
platforms:
  x: {{api_base_url: {x}, request_timeout: 2}}
  mastodon: {{request_timeout: 2}}
  bluesky: {{request_timeout: 2}}
lateness: {{chat: 2m, campaign: 1h, repost: 30m}}
worker: {{reconcile_delay: 15s, reconcile_attempts: 3, retry_delay: 1m}}
"""

MULTI_CHAT = """
id: fr-chat
title: Facial recognition in libraries
hashtag: "#LFPchat"
host: [lfp, lfp_masto, lfp_bsky]
starts_at: 2026-12-03 20:00
interval: 10m
intro: "Welcome to #LFPchat! Tonight, face surveillance in libraries."
questions:
  - text: What does face surveillance mean for library patrons, and who gets to decide?
    card: question
    alt: A card reading Q1, what does face surveillance mean for library patrons?
    text_for:
      bluesky: What does face surveillance mean for patrons? 📚
  - text: Who carries the risk when a library scans faces?
outro: "Thanks for joining #LFPchat!"
amplify:
  - {account: masslib, after: 2m}
  - {account: masslib_masto, after: 2m}
  - {account: masslib_bsky, after: 2m}
"""


@pytest.fixture
def three(
    tmp_path: Path,
    clock: FakeClock,
    masto: MastodonServer,
    bsky: BlueskyServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Dispatcher, XServer, Path]]:
    clear_credentials(monkeypatch)
    xsrv = XServer(now=clock.now).start()
    env = {
        **xsrv.env_for("LFP", xsrv.add_user("libraryfreedom")),
        **xsrv.env_for("MASSLIB", xsrv.add_user("masslib")),
        **masto.env_for("LFPM", masto.add_account("lfp")),
        **masto.env_for("MASSLIBM", masto.add_account("masslib")),
        **bsky.env_for("LFPB", bsky.add_account("lfp.bsky.social")),
        **bsky.env_for("MASSLIBB", bsky.add_account("masslib.bsky.social")),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    write(
        tmp_path / "config.yaml",
        MULTI_CONFIG.format(db=db_url, x=xsrv.url, masto=masto.url, bsky=bsky.url),
    )
    write(tmp_path / "content" / "chats" / "fr.yaml", MULTI_CHAT)
    shutil.copytree(ROOT / "graphics", tmp_path / "graphics")
    config = load_config(str(tmp_path / "config.yaml"))
    db = open_database(config.database_url)
    with db.write() as session:
        apply_plan(session, load_content(config), config, clock.now(), "maty")
    with db.write() as session:
        approve(session, "fr-chat", "alison", "ok", clock.now())
    dispatcher = Dispatcher(db, config, build_publishers(config, clock, None), clock, Notifier())
    yield dispatcher, xsrv, tmp_path
    xsrv.stop()
    db.dispose()


def run_until(dispatcher: Dispatcher, clock: FakeClock, end: datetime) -> None:
    """Step the fake clock from one wake-up to the next, as the timer would."""
    while True:
        wake = dispatcher.run_due()
        if wake is None or wake > end:
            return
        clock.set(max(wake, clock.now()))


def test_one_chat_goes_out_on_x_mastodon_and_bluesky_in_one_run(
    three: tuple[Dispatcher, XServer, Path],
    clock: FakeClock,
    masto: MastodonServer,
    bsky: BlueskyServer,
) -> None:
    dispatcher, xsrv, _ = three
    # The answer to Mastodon's Q1 and to Bluesky's Q2 is lost after the post was made:
    # both are reconciled against the account's own timeline, and neither is sent twice.
    run_until(dispatcher, clock, T0 + timedelta(minutes=5))
    masto.inject("POST", "/api/v1/statuses", "drop_after_create")
    run_until(dispatcher, clock, T0 + timedelta(minutes=15))
    bsky.inject("POST", "/xrpc/com.atproto.repo.createRecord", "drop_after_create")
    run_until(dispatcher, clock, T0 + timedelta(hours=1))

    x_texts = [t.text for t in sorted(xsrv.posts_by("libraryfreedom"), key=lambda t: int(t.id))]
    m_texts = [s.text for s in sorted(masto.statuses_by("lfp"), key=lambda s: int(s.id))]
    b_texts = [
        r.value["text"]
        for r in sorted(bsky.posts_by("lfp.bsky.social"), key=lambda r: r.indexed_at)
    ]
    assert x_texts == m_texts
    assert x_texts[1] == (
        "Q1: What does face surveillance mean for library patrons, and who gets to decide? #LFPchat"
    )
    assert b_texts[1] == "Q1: What does face surveillance mean for patrons? 📚 #LFPchat"
    assert x_texts[0::2] == b_texts[0::2] and x_texts[3] == b_texts[3]
    assert len(x_texts) == len(m_texts) == len(b_texts) == 4, "each post once per platform"

    # Every platform's card carries its alt text.
    [q1_status] = [s for s in masto.statuses_by("lfp") if s.text.startswith("Q1")]
    assert masto.media[q1_status.media_ids[0]]["description"].startswith("A card reading Q1")
    [q1_record] = [r for r in bsky.posts_by("lfp.bsky.social") if r.value["text"].startswith("Q1")]
    assert q1_record.value["embed"]["images"][0]["alt"].startswith("A card reading Q1")
    # The Bluesky copy's hashtag is a facet over the right bytes, after the emoji.
    raw = q1_record.value["text"].encode()
    [tag] = q1_record.value["facets"]
    assert raw[tag["index"]["byteStart"] : tag["index"]["byteEnd"]] == b"#LFPchat"

    # Each partner reposts on its own platform, once per post.
    assert len([t for t in xsrv.posts_by("masslib") if t.retweet_of]) == 4
    boosts = [s for s in masto.statuses_by("masslib") if s.reblog_of]
    assert sorted(s.reblog_of for s in boosts) == sorted(s.id for s in masto.statuses_by("lfp"))
    reposts = bsky.posts_by("masslib.bsky.social", "app.bsky.feed.repost")
    assert sorted(r.value["subject"]["uri"] for r in reposts) == sorted(
        r.uri for r in bsky.posts_by("lfp.bsky.social")
    )

    with dispatcher.db.read() as session:
        posts = {p.key: p for p in session.scalars(select(Post))}
    assert {p.state for p in posts.values()} == {PostState.POSTED}
    assert len(posts) == 24
    assert "confirmed on the account's timeline" in (
        posts["fr-chat/q1+lfp_masto"].state_reason or ""
    )
    assert "confirmed on the account's timeline" in (
        posts["fr-chat/q2+lfp_bsky"].state_reason or ""
    )
    assert posts["fr-chat/q1+lfp_bsky"].remote_url.startswith(  # type: ignore[union-attr]
        "https://bsky.app/profile/lfp.bsky.social/post/"
    )
    # Bluesky sessions were reused: one login per account for the whole chat.
    assert bsky.requests_to("/xrpc/com.atproto.server.createSession") == 2


def test_missing_mastodon_or_bluesky_credentials_are_refused_at_start(
    three: tuple[Dispatcher, XServer, Path], monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    _, _, root = three
    config = load_config(str(root / "config.yaml"))
    monkeypatch.delenv("LFPB_APP_PASSWORD")
    with pytest.raises(ConfigError, match=r"'lfp_bsky' \(platform bluesky\).*LFPB_APP_PASSWORD"):
        build_publishers(config, clock, None)
    monkeypatch.delenv("LFPM_ACCESS_TOKEN")
    with pytest.raises(ConfigError, match=r"'lfp_masto' \(platform mastodon\).*LFPM_ACCESS_TOKEN"):
        build_publishers(config, clock, None)


def test_the_x_session_reads_proxies_from_the_environment_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """requests would scan the environment at every request; the session reads it when it is
    made, so a proxy an operator sets still applies, and NO_PROXY still exempts a host."""
    from chatbot.publishers.x_http import RoutedSession

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/org-ca.pem")
    session = RoutedSession("https://api.x.com", 5.0)
    assert session.proxies.get("https") == "http://proxy.example:3128"
    assert session.verify == "/etc/ssl/certs/org-ca.pem"
    assert not session.trust_env, "not looked up again at each request"
    assert RoutedSession("http://127.0.0.1:8080", 5.0).proxies == {}

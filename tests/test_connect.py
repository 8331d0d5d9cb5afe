"""Partner onboarding: invites, OAuth 2.0 with PKCE against a loopback X authorization server,
Mastodon's app registration and code flow, Bluesky app passwords, encrypted storage, refresh
with rotation (and two workers racing), key rotation, consent, pause and disconnect."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from sqlalchemy import select

from chatbot.config import load_config
from chatbot.connect import credentials
from chatbot.connect.crypto import TokenBox
from chatbot.connect.publishers import build_publishers
from chatbot.content.load import load_content
from chatbot.db import Post, open_database
from chatbot.db.models import Account, AuditEntry, Credential, Invite
from chatbot.db.session import Database
from chatbot.engine.clock import FakeClock
from chatbot.errors import ConfigError
from chatbot.publishers.base import OutgoingPost, Unauthorized
from chatbot.publishers.mastodon import clear_instance_cache
from chatbot.queue.apply import apply_plan
from chatbot.web import create_app
from chatbot.web.users import add_user, new_password
from tests.blueskyserver import BlueskyServer
from tests.conftest import write
from tests.enginekit import clear_credentials
from tests.mastodonserver import MastodonServer
from tests.webkit import PASSWORD, SECRET
from tests.xserver import XServer

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()

CONFIG = """
timezone: UTC
database_url: {db}
publisher: live
accounts:
  lfp: {{platform: x, handle: "@libraryfreedom", env_prefix: LFP}}
  masslib: {{platform: x, handle: "@masslib", credentials: invite}}
  nela: {{platform: x, handle: "@nelib", credentials: invite}}
  mla_masto: {{platform: mastodon, handle: "@mla", credentials: invite, instance_url: {masto}}}
  mla_bsky: {{platform: bluesky, handle: "@mla.bsky.social", credentials: invite, instance_url: {bsky}}}
platforms:
  x:
    api_base_url: {x}
    oauth_authorize_url: {x}/i/oauth2/authorize
    oauth_token_url: {x}/2/oauth2/token
    oauth_revoke_url: {x}/2/oauth2/revoke
    request_timeout: 5
web: {{public_url: "http://chatbot.test"}}
"""

CAMPAIGN = """
id: ban-push
accounts: [lfp]
posts:
  - text: Face surveillance has no place in libraries.
    at: 2026-12-07 15:00
amplify:
  - {account: masslib, after: 30m}
  - {account: nela, after: 40m}
"""


class Site:
    def __init__(
        self,
        root: Path,
        db_url: str,
        x: XServer,
        masto: MastodonServer,
        bsky: BlueskyServer,
        clock: FakeClock,
    ):
        self.clock = clock
        self.x, self.masto, self.bsky = x, masto, bsky
        self.path = write(
            root / "config.yaml", CONFIG.format(db=db_url, x=x.url, masto=masto.url, bsky=bsky.url)
        )
        write(root / "content" / "campaigns" / "ban.yaml", CAMPAIGN)
        self.config = load_config(str(self.path))
        self.db: Database = open_database(self.config.database_url)
        with self.db.write() as session:
            apply_plan(session, load_content(self.config), self.config, NOW, "maty")
            accounts = set(self.config.settings.accounts)
            add_user(session, "olga", new_password(PASSWORD), "organizer", None, NOW, accounts)
            add_user(session, "pat", new_password(PASSWORD), "partner", "masslib", NOW, accounts)
            add_user(session, "nora", new_password(PASSWORD), "partner", "nela", NOW, accounts)
        self.app = create_app(
            config=self.config, db=self.db, secret_key=SECRET, clock=self.clock.now
        )

    def client(self, user: str | None = None) -> FlaskClient:
        client = self.app.test_client()
        if user is not None:
            response = client.post(
                "/login",
                data={"name": user, "password": PASSWORD, "csrf_token": csrf(client, "/login")},
            )
            assert response.status_code == 302, response.text
        return client

    def invite(self, account: str) -> str:
        from chatbot.connect.service import create_invite

        link = create_invite(self.db, self.config, account, "olga", self.clock.now())
        assert link.startswith("http://chatbot.test/connect/")
        return link.removeprefix("http://chatbot.test")

    def audit(self) -> list[tuple[str, str]]:
        with self.db.read() as session:
            return [
                (a.action, a.target)
                for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            ]

    def credential(self, account: str) -> Credential | None:
        with self.db.read() as session:
            return session.scalars(
                select(Credential).where(Credential.account_key == account)
            ).first()

    def dump(self) -> str:
        """Every row of every table, as text: what a database dump would reveal."""
        from chatbot.db.models import Base

        out = []
        with self.db.read() as session:
            for table in Base.metadata.sorted_tables:
                out.extend(repr(tuple(r)) for r in session.execute(select(table)))
        assert "credentials" in Base.metadata.tables and "invites" in Base.metadata.tables
        return "\n".join(out)


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None, page.text
    return match.group(1)


@pytest.fixture
def site(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    clear_credentials(monkeypatch)
    clear_instance_cache()
    clock = FakeClock(NOW)  # the web app, the workers and the servers share it
    x = XServer(now=clock.now).start()
    masto = MastodonServer(now=clock.now).start()
    bsky = BlueskyServer(now=clock.now).start()
    monkeypatch.setenv("CHATBOT_TOKEN_KEYS", KEY_A)
    monkeypatch.setenv("X_CLIENT_ID", x.oauth_client_id)
    monkeypatch.setenv("X_CLIENT_SECRET", x.oauth_client_secret)
    for name, value in x.env_for("LFP", x.add_user("libraryfreedom")).items():
        monkeypatch.setenv(name, value)
    s = Site(tmp_path, db_url, x, masto, bsky, clock)
    yield s
    for srv in (x, masto, bsky):
        srv.stop()
    s.db.dispose()


def connect_x(site: Site, username: str, account: str, path: str | None = None) -> dict[str, Any]:
    """A partner follows the invite, signs in on (fake) X and is sent back: returns what the
    authorization server was asked."""
    path = path or site.invite(account)
    client = site.client()
    page = client.get(path)
    assert page.status_code == 200
    start = client.post(f"{path}/start", data={"csrf_token": csrf(client, path)})
    assert start.status_code == 302, start.text
    site.x.consenting = site.x.add_user(username)
    back = requests.get(start.headers["location"], allow_redirects=False, timeout=5)
    assert back.status_code == 302
    callback = urlsplit(back.headers["location"])
    assert callback.netloc == "chatbot.test" and callback.path == "/connect/x/callback"
    done = client.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 200, done.text
    assert f"{account} is connected" in done.text
    return {"authorize": site.x.authorize_requests[-1], "callback": callback.query}


# -- invites -----------------------------------------------------------------------------------


def test_invite_is_single_use_bound_to_one_account_and_expires(site: Site) -> None:
    path = site.invite("masslib")
    page = site.client().get(path)
    # Consent: the partner sees what its account will post and when, before granting anything.
    assert "Connect @masslib (x)" in page.text
    # The very words it will amplify, never a post key or a server path.
    assert "Face surveillance has no place in libraries." in page.text
    assert "Mon 07 Dec 15:30 UTC" in page.text and "a repost of lfp" in page.text
    assert "ban-push/p1" not in page.text and "content/" not in page.text
    assert "nela" not in page.text, "another account's posts are not shown"
    token = path.rsplit("/", 1)[1]
    with site.db.read() as session:
        invite = session.scalars(select(Invite)).one()
        assert invite.account_key == "masslib" and invite.token_hash != token
    assert token not in site.dump(), "only the token's hash is stored"

    connect_x(site, "masslib", "masslib", path)
    replay = site.client().get(path)
    assert replay.status_code == 400 and "already used" in replay.text

    later = site.invite("nela")
    site.clock.advance(timedelta(hours=72))
    expired = site.client().get(later)
    assert expired.status_code == 400 and "expired" in expired.text
    client = site.client()
    refused = client.post(f"{later}/start", data={"csrf_token": csrf(client, "/login")})
    assert refused.status_code == 400 and site.credential("nela") is None
    assert "not valid" in site.client().get("/connect/not-a-real-token").text


def test_replayed_invite_and_callback_are_refused(site: Site) -> None:
    flow = connect_x(site, "masslib", "masslib")
    # The same callback again (a replayed state and code) changes nothing.
    again = site.client().get(f"/connect/x/callback?{flow['callback']}")
    assert again.status_code == 400 and "unknown state" in again.text
    with site.db.read() as session:
        invite = session.scalars(select(Invite)).one()
    assert invite.used_at is not None


def test_tampered_state_is_refused_and_stores_nothing(site: Site) -> None:
    path = site.invite("masslib")
    client = site.client()
    start = client.post(f"{path}/start", data={"csrf_token": csrf(client, path)})
    site.x.consenting = site.x.add_user("masslib")
    back = urlsplit(
        requests.get(start.headers["location"], allow_redirects=False, timeout=5).headers[
            "location"
        ]
    )
    params = parse_qs(back.query)
    tampered = params["state"][0][:-2] + ("AA" if not params["state"][0].endswith("AA") else "BB")
    response = client.get(f"/connect/x/callback?state={tampered}&code={params['code'][0]}")
    assert response.status_code == 400 and "unknown state" in response.text
    assert site.credential("masslib") is None
    missing = client.get(f"/connect/x/callback?code={params['code'][0]}")
    assert missing.status_code == 400


# -- X: PKCE, posting with the token, refresh with rotation ------------------------------------


def test_x_connect_uses_pkce_and_the_worker_posts_with_the_stored_token(site: Site) -> None:
    flow = connect_x(site, "masslib", "masslib")
    asked = flow["authorize"]
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert set(asked["scope"].split()) >= {"tweet.write", "media.write", "offline.access"}
    assert asked["redirect_uri"] == "http://chatbot.test/connect/x/callback"
    row = site.credential("masslib")
    assert row is not None and row.kind == "oauth2" and row.expires_at == NOW + timedelta(hours=2)
    assert ("partner.connected", "masslib") in site.audit()

    publishers = build_publishers(site.config, site.clock, None, site.db)
    # The organisation's own account still uses its environment credentials.
    publishers["lfp"].check_credentials()
    partner = publishers["masslib"]
    original = publishers["lfp"].publish(
        OutgoingPost("ban-push/p1", "Face surveillance has no place in libraries.")
    )
    partner.publish(OutgoingPost("ban-push/p1@masslib", repost_of=original.remote_id))
    [repost] = [t for t in site.x.posts_by("masslib") if t.retweet_of]
    assert repost.retweet_of == original.remote_id

    # Within the refresh margin of expiry the token is refreshed (and the refresh token rotated).
    site.clock.set(NOW + timedelta(hours=1, minutes=55))
    before = credentials.load(site.db, TokenBox.from_env(), "masslib")
    assert before is not None
    partner.publish(OutgoingPost("x", "Libraries protect privacy."))
    after = credentials.load(site.db, TokenBox.from_env(), "masslib")
    assert after is not None
    assert site.x.refreshes == 1
    assert after[1]["refresh_token"] != before[1]["refresh_token"]
    assert after[0].version == before[0].version + 1
    assert after[0].expires_at == site.clock.now() + timedelta(hours=2)
    assert str(before[1]["refresh_token"]) not in site.x.refresh_tokens, (
        "rotated: the old one is dead"
    )


def test_refresh_failure_pauses_posting_and_is_audited(site: Site) -> None:
    connect_x(site, "masslib", "masslib")
    publisher = build_publishers(site.config, site.clock, None, site.db)["masslib"]
    site.x.refresh_tokens.clear()  # the partner revoked the app on X's side
    site.clock.set(NOW + timedelta(hours=3))
    with pytest.raises(Unauthorized, match="the connection to X needs renewing"):
        publisher.publish(OutgoingPost("x", "Libraries protect privacy."))
    assert ("partner.refresh_failed", "masslib") in site.audit()


def test_two_workers_refreshing_at_once_spend_the_refresh_token_once(site: Site) -> None:
    """On PostgreSQL the credential row is locked (FOR UPDATE); on SQLite the write
    transaction is BEGIN IMMEDIATE. Either way the second worker uses the first's new token."""
    from chatbot.connect.publishers import connected_publisher

    connect_x(site, "masslib", "masslib")
    site.clock.set(NOW + timedelta(hours=1, minutes=58))
    original = site.x.refresh_tokens.copy()
    # Two workers, each with its own database engine (two processes' worth of connections),
    # and a slow token endpoint so the two refreshes would overlap.
    site.x.token_delay = 0.3
    workers = [open_database(site.config.database_url) for _ in range(2)]
    tokens: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(db: Database) -> None:
        provider = connected_publisher(site.config, db, "masslib", site.clock).token_provider  # type: ignore[attr-defined]
        barrier.wait()
        try:
            tokens.append(provider())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(db,)) for db in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for db in workers:
        db.dispose()
    assert errors == []
    assert site.x.refreshes == 1, "the refresh token was spent once"
    assert len(set(tokens)) == 1 and tokens[0] in site.x.bearer
    assert set(original).isdisjoint(site.x.refresh_tokens)


# -- Mastodon and Bluesky ----------------------------------------------------------------------


def test_mastodon_connect_registers_an_app_and_posts_with_the_granted_token(site: Site) -> None:
    path = site.invite("mla_masto")
    client = site.client()
    start = client.post(f"{path}/start", data={"csrf_token": csrf(client, path)})
    assert start.status_code == 302
    assert start.headers["location"].startswith(f"{site.masto.url}/oauth/authorize?")
    [app] = site.masto.apps.values()
    assert app["redirect_uri"] == "http://chatbot.test/connect/mastodon/callback"
    assert set(app["scopes"]) == {"read:accounts", "read:statuses", "write:statuses", "write:media"}
    site.masto.consenting = site.masto.add_account("mla")
    back = urlsplit(
        requests.get(start.headers["location"], allow_redirects=False, timeout=5).headers[
            "location"
        ]
    )
    done = client.get(f"{back.path}?{back.query}")
    assert done.status_code == 200 and "mla_masto is connected" in done.text
    publisher = build_publishers(site.config, site.clock, None, site.db)["mla_masto"]
    publisher.publish(OutgoingPost("p", "Libraries protect privacy. #NoFaceSurveillance"))
    [status] = site.masto.statuses_by("mla")
    assert status.text == "Libraries protect privacy. #NoFaceSurveillance"


def test_bluesky_app_password_is_checked_stored_encrypted_and_never_shown(site: Site) -> None:
    account = site.bsky.add_account("mla.bsky.social")
    path = site.invite("mla_bsky")
    client = site.client()
    page = client.get(path)
    assert "App password for @mla.bsky.social" in page.text
    wrong = client.post(
        f"{path}/app-password", data={"app_password": "nope", "csrf_token": csrf(client, path)}
    )
    assert wrong.status_code == 400 and "did not accept that app password" in wrong.text
    assert site.credential("mla_bsky") is None
    ok = client.post(
        f"{path}/app-password",
        data={"app_password": account.app_password, "csrf_token": csrf(client, path)},
    )
    assert ok.status_code == 200 and account.app_password not in ok.text
    publisher = build_publishers(site.config, site.clock, None, site.db)["mla_bsky"]
    publisher.publish(OutgoingPost("p", "Libraries protect privacy.", scheduled_at=NOW))
    assert len(site.bsky.posts_by("mla.bsky.social")) == 1
    olga = site.client("olga")
    assert account.app_password not in olga.get("/partners").text
    # A second use of the same invite is refused.
    replay = client.post(
        f"{path}/app-password",
        data={"app_password": account.app_password, "csrf_token": csrf(client, "/login")},
    )
    assert replay.status_code == 400 and "already used" in replay.text


def test_a_database_dump_reveals_no_token(site: Site) -> None:
    connect_x(site, "masslib", "masslib")
    account = site.bsky.add_account("mla.bsky.social")
    path = site.invite("mla_bsky")
    client = site.client()
    client.post(
        f"{path}/app-password",
        data={"app_password": account.app_password, "csrf_token": csrf(client, path)},
    )
    # An OAuth round trip under way keeps its PKCE verifier: encrypted too.
    pending = site.invite("nela")
    client.post(f"{pending}/start", data={"csrf_token": csrf(client, pending)})
    dump = site.dump()
    secrets_issued = [
        *site.x.bearer,
        *site.x.refresh_tokens,
        account.app_password,
        site.x.oauth_client_secret,
    ]
    assert secrets_issued and all(s not in dump for s in secrets_issued)
    assert "gAAAAA" in dump, "the tokens are there, sealed with Fernet"


def test_key_rotation_reseals_every_token(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from chatbot.cli import cli

    connect_x(site, "masslib", "masslib")
    sealed_before = site.credential("masslib").secret  # type: ignore[union-attr]
    monkeypatch.setenv("CHATBOT_TOKEN_KEYS", f"{KEY_B},{KEY_A}")
    result = CliRunner().invoke(cli, ["--config", str(site.path), "keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "1 stored credentials re-encrypted" in result.output
    assert site.credential("masslib").secret != sealed_before  # type: ignore[union-attr]
    monkeypatch.setenv("CHATBOT_TOKEN_KEYS", KEY_B)  # the old key is gone
    assert credentials.load(site.db, TokenBox.from_env(), "masslib") is not None
    monkeypatch.setenv("CHATBOT_TOKEN_KEYS", KEY_A)
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        credentials.load(site.db, TokenBox.from_env(), "masslib")
    monkeypatch.delenv("CHATBOT_TOKEN_KEYS")
    result = CliRunner().invoke(cli, ["--config", str(site.path), "keys", "rotate"])
    assert result.exit_code == 1 and "CHATBOT_TOKEN_KEYS is not set" in result.output


# -- consent and control -----------------------------------------------------------------------


def test_partner_sees_and_controls_only_its_own_account(site: Site) -> None:
    connect_x(site, "masslib", "masslib")
    connect_x(site, "nelib", "nela")
    pat = site.client("pat")
    mine = pat.get("/partner")
    assert "Your account: masslib" in mine.text
    assert "Face surveillance has no place in libraries." in mine.text
    assert "nela" not in mine.text and "ban-push/p1" not in mine.text
    # The organizer pages and another account's disconnect are out of reach.
    assert pat.get("/partners").status_code == 403
    forbidden = pat.post("/partners/nela/disconnect", data={"csrf_token": csrf(pat, "/partner")})
    assert forbidden.status_code == 403
    assert site.credential("nela") is not None
    # Pausing acts on pat's own account only.
    pat.post("/partner/pause", data={"paused": "1", "csrf_token": csrf(pat, "/partner")})
    with site.db.read() as session:
        paused = {a.key: a.paused for a in session.scalars(select(Account))}
    assert paused["masslib"] and not paused["nela"]
    assert ("account.paused", "masslib") in site.audit()


def test_disconnect_deletes_tokens_now_holds_posts_and_tells_organizers(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    connect_x(site, "masslib", "masslib")
    access = next(iter(site.x.bearer))
    pat = site.client("pat")
    with caplog.at_level("ERROR", logger="chatbot.notify"):
        response = pat.post("/partner/disconnect", data={"csrf_token": csrf(pat, "/partner")})
    assert response.status_code == 302
    assert site.credential("masslib") is None
    assert access in site.x.revoked, "revoked at X as well (best effort)"
    with site.db.read() as session:
        post = session.scalars(select(Post).where(Post.key == "ban-push/p1@masslib")).one()
        account = session.scalars(select(Account).where(Account.key == "masslib")).one()
    assert post.held and post.state_reason == "held: account disconnected by its partner"
    assert account.paused and "disconnected" in (account.paused_reason or "")
    assert ("partner.disconnected", "masslib") in site.audit()
    assert any("Partner account masslib disconnected" in r.getMessage() for r in caplog.records)
    # Without stored tokens the account cannot post: the worker pauses it and says why.
    publisher = build_publishers(site.config, site.clock, None, site.db)["masslib"]
    with pytest.raises(Unauthorized, match="waiting for its partner to connect"):
        publisher.check_credentials()
    # Reconnecting by a new invite releases the held posts.
    connect_x(site, "masslib", "masslib")
    with site.db.read() as session:
        post = session.scalars(select(Post).where(Post.key == "ban-push/p1@masslib")).one()
    assert not post.held


def test_cli_invite_and_list(site: Site) -> None:
    from click.testing import CliRunner

    from chatbot.cli import cli

    runner = CliRunner()
    result = runner.invoke(
        cli, ["--config", str(site.path), "partner", "invite", "masslib", "--by", "olga"]
    )
    assert result.exit_code == 0, result.output
    link = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"http://chatbot\.test/connect/[\w-]{43}", link)
    bad = runner.invoke(
        cli, ["--config", str(site.path), "partner", "invite", "nobody", "--by", "olga"]
    )
    assert bad.exit_code == 1 and "no account 'nobody'" in bad.output
    connect_x(site, "masslib", "masslib")
    listing = runner.invoke(cli, ["--config", str(site.path), "partner", "list"])
    rows = {line.split("│")[1].strip(): line for line in listing.output.splitlines() if "│" in line}
    assert "connected" in rows["masslib"] and "invite" in rows["nela"] and "env" in rows["lfp"]


def test_a_connected_x_post_reads_its_token_once(site: Site, tmp_path: Path) -> None:
    """Upload, alt text and create share one token read (each read is a database query and a
    decryption); the next post reads it again, so a refresh is never missed."""
    from PIL import Image

    from chatbot.publishers.base import Media
    from chatbot.publishers.x import XPublisher

    user = site.x.add_user("masslib")
    site.x.bearer["tok"] = (user, NOW + timedelta(days=1))
    reads: list[str] = []

    def provider() -> str:
        reads.append("tok")
        return "tok"

    card = tmp_path / "card.png"
    Image.new("RGB", (1200, 675), "navy").save(card)
    publisher = XPublisher("masslib", "@masslib", base_url=site.x.url, token_provider=provider)
    publisher.publish(OutgoingPost("a", "With a card", (Media(card, "A navy card"),)))
    assert len(reads) == 1
    publisher.publish(OutgoingPost("b", "Another post"))
    assert len(reads) == 2
    assert [t.text for t in site.x.posts_by("masslib")] == ["With a card", "Another post"]

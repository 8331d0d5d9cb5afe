"""The web app in process: every route, each role against each action, CSRF, error pages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from chatbot.cli import cli
from chatbot.db.models import Account, Approval, AuditEntry, Chat, Post, PostState
from tests.conftest import ROOT, Project
from tests.webkit import PASSWORD, WebProject, submit, token


@pytest.fixture
def web(example: Project, db_url: str) -> Iterator[WebProject]:
    project = WebProject(example.root, db_url)
    yield project
    project.db.dispose()


PAGES = ["/", "/attention", "/audit", "/chats/fr-chat", "/chats/fr-chat/panel", "/posts/1"]


def test_nothing_is_reachable_signed_out_except_the_sign_in_page(web: WebProject) -> None:
    client = web.client()
    for path in [*PAGES, "/posts/1/card.png"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next="), path
    response = client.post("/review", data={"item": "fr-chat", "decision": "approve"})
    assert response.status_code in (302, 400)
    page = client.get("/login")
    assert page.status_code == 200 and "Sign in" in page.text
    headers = page.headers
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    cookie = page.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_sign_in_refuses_wrong_passwords_and_foreign_redirects(web: WebProject) -> None:
    client = web.client()
    for name, password in (("olga", "wrong password!!"), ("nobody", PASSWORD)):
        response = client.post(
            "/login", data={"name": name, "password": password, "csrf_token": token(client)}
        )
        assert response.status_code == 401
        assert "do not match a user" in response.text
    response = client.post(
        "/login?next=//evil.example/x",
        data={"name": "olga", "password": PASSWORD, "csrf_token": token(client)},
    )
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_every_page_renders_for_an_organizer(web: WebProject) -> None:
    client = web.client("olga")
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store"
    q1 = web.post_id("fr-chat/q1")
    card = client.get(f"/posts/{q1}/card.png")
    assert card.status_code == 200 and card.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/posts/999999").status_code == 404
    assert client.get("/review").status_code == 405
    assert client.get("/?week=not-a-date").status_code == 404
    assert client.get("/chats/nope").status_code == 404


def test_preview_shows_text_length_card_alt_times_and_findings(web: WebProject) -> None:
    client = web.client("olga")
    page = client.get(f"/posts/{web.post_id('fr-chat/q1')}").text
    assert '<span class="hashtag">#LFPchat</span>' in page
    assert "82 / 280</span> as X counts" in page
    # The host's other platforms side by side, each counted and linked its own way.
    assert "as Mastodon counts" in page and "as Bluesky counts" in page
    assert page.count('class="pv pv-') == 3
    assert 'alt="Purple card with the Library Freedom Project logo.' in page
    assert "Thu 03 Dec 20:07 EST" in page
    assert "No findings." in page
    # A partner in another zone: its own time is shown beside the viewer's.
    repost = client.get(f"/posts/{web.post_id('ban-push/bill-of-rights@ifc')}").text
    assert "CST) for ifc" in repost or "CST for ifc" in repost
    week = client.get("/?week=2026-11-30").text
    assert "fr-chat/q3" in week and "/ 280" in week
    filtered = client.get("/?week=2026-11-30&account=nela").text
    assert "fr-chat/q1@nela" in filtered and "fr-chat/q1@masslib" not in filtered


def test_reviewers_see_an_attached_image_and_never_another_file(
    example: Project, db_url: str
) -> None:
    from PIL import Image

    image = example.root / "content" / "images" / "flyer.png"
    image.parent.mkdir()
    Image.new("RGB", (640, 360), "#4b2a8a").save(image)
    (example.root / "content" / "campaigns" / "flyer.yaml").write_text(
        "id: flyer\naccounts: [lfp]\nposts:\n  - text: Come to the library board meeting\n"
        "    image: images/flyer.png\n    alt: A purple flyer for the board meeting\n"
        "    at: 2026-12-10 18:00\n"
    )
    web = WebProject(example.root, db_url)
    try:
        post_id = web.post_id("flyer/p1")
        olga = web.client("olga")
        page = olga.get(f"/posts/{post_id}").text
        assert f'src="/posts/{post_id}/image"' in page
        assert 'alt="A purple flyer for the board meeting"' in page
        assert "<code>images/flyer.png</code>" in page
        shown = olga.get(f"/posts/{post_id}/image")
        assert shown.status_code == 200 and shown.mimetype == "image/png"
        assert shown.data == image.read_bytes()
        assert web.client("pat").get(f"/posts/{post_id}/image").status_code == 404
        secret = example.root / ".env"
        secret.write_text("CHATBOT_SECRET_KEY=do-not-show\n")
        image.unlink()
        image.symlink_to(secret)
        refused = olga.get(f"/posts/{post_id}/image")
        assert refused.status_code == 404 and b"do-not-show" not in refused.data
    finally:
        web.db.dispose()


ROLE_RULES = {
    # action: roles allowed
    "attention": {"olga", "rita", "hank"},
    "audit": {"olga", "rita"},
    "chat": {"olga", "rita", "hank"},
    "review": {"olga", "rita"},
    "control": {"olga", "hank"},
    "settle": {"olga"},
}


@pytest.mark.parametrize("name", ["olga", "rita", "hank", "pat", "nora"])
def test_each_role_against_each_action(web: WebProject, name: str) -> None:
    client = web.client(name)

    def allowed(action: str) -> bool:
        return name in ROLE_RULES[action]

    assert (client.get("/attention").status_code == 200) == allowed("attention")
    assert (client.get("/audit").status_code == 200) == allowed("audit")
    assert (client.get("/chats/fr-chat").status_code == 200) == allowed("chat")
    q2 = web.post_id("fr-chat/q2")
    response = submit(client, "/review", {"item": str(q2), "decision": "approve", "note": "ok"})
    assert (response.status_code == 302) == allowed("review")
    assert (web.post("fr-chat/q2").state == PostState.APPROVED) == allowed("review")
    response = submit(client, "/chats/fr-chat/control", {"verb": "pause"})
    assert (response.status_code == 302) == allowed("control")
    with web.db.read() as session:
        paused = session.scalars(select(Chat.live_state)).one() == "paused"
    assert paused == allowed("control")
    with web.db.write() as session:
        session.execute(
            update(Post).where(Post.id == q2).values(state=PostState.FAILED, state_reason="x")
        )
    response = submit(client, f"/posts/{q2}/settle", {"action": "cancel"})
    assert (response.status_code == 302) == allowed("settle")
    assert (web.post("fr-chat/q2").state == PostState.CANCELLED) == allowed("settle")
    if not allowed("settle"):
        assert response.status_code in (403, 404)


def test_a_partner_sees_and_changes_only_its_own_account(web: WebProject) -> None:
    pat = web.client("pat")  # masslib
    own = web.post_id("fr-chat/q1@masslib")
    other = web.post_id("fr-chat/q1@nela")
    host_post = web.post_id("fr-chat/q1")
    assert pat.get(f"/posts/{own}").status_code == 200
    # Another partner's post by id: not found, not even "forbidden".
    assert pat.get(f"/posts/{other}").status_code == 404
    assert pat.get(f"/posts/{host_post}").status_code == 404
    # The card of an original it reposts is visible (the partner sees what it amplifies) ...
    assert pat.get(f"/posts/{host_post}/card.png").status_code == 200
    # ... and no other card.
    with web.db.read() as session:
        amplified = set(
            session.scalars(select(Post.depends_on_id).where(Post.account_key == "masslib"))
        )
        carded = session.scalars(
            select(Post.id).where(Post.card.is_not(None), Post.account_key != "masslib")
        ).all()
    unrelated = next(i for i in carded if i not in amplified)
    assert pat.get(f"/posts/{unrelated}/card.png").status_code == 404
    assert submit(pat, f"/posts/{other}/opt", {"choice": "out"}).status_code == 404
    assert web.post("fr-chat/q1@nela").state == PostState.DRAFT
    # The timeline ignores a partner's attempt to filter to another account.
    week = pat.get("/?week=2026-11-30&account=nela").text
    assert "fr-chat/q1@masslib" in week and "@nela" not in week and "fr-chat/q2<" not in week
    # Opting out of its own repost, then back in.
    submit(pat, f"/posts/{own}/opt", {"choice": "out"})
    post = web.post("fr-chat/q1@masslib")
    assert post.state == PostState.SKIPPED and post.state_reason == "opted out by pat"
    submit(pat, f"/posts/{own}/opt", {"choice": "in"})
    assert web.post("fr-chat/q1@masslib").state == PostState.DRAFT
    # A reviewer cannot opt a partner out.
    assert submit(web.client("rita"), f"/posts/{own}/opt", {"choice": "out"}).status_code == 403


def test_forms_without_a_valid_csrf_token_are_refused_and_change_nothing(web: WebProject) -> None:
    client = web.client("olga")
    q1 = web.post_id("fr-chat/q1")
    response = client.post("/review", data={"item": str(q1), "decision": "approve"})
    assert response.status_code == 400 and "Form refused" in response.text
    other = web.client("rita")
    foreign = token(other, "/")
    response = client.post(
        "/review", data={"item": str(q1), "decision": "approve", "csrf_token": foreign}
    )
    assert response.status_code == 400
    assert web.post("fr-chat/q1").state == PostState.DRAFT
    response = client.post("/chats/fr-chat/control", data={"verb": "pause"})
    assert response.status_code == 400
    with web.db.read() as session:
        assert session.scalars(select(Chat.live_state)).one() != "paused"


def test_reviewing_a_chat_and_an_edit_voiding_it_visibly(web: WebProject, example: Project) -> None:
    rita = web.client("rita")
    response = submit(
        rita, "/review", {"item": "fr-chat", "decision": "approve", "note": "script ok"}
    )
    assert response.status_code == 302
    assert web.post("fr-chat/q4").state == PostState.APPROVED
    flash = rita.get("/").text
    assert "posts approved by rita" in flash
    # The content is edited and applied again: the approval is void, and the page says so.
    chat = example.root / "content" / "chats" / "fr-chat.yaml"
    chat.write_text(chat.read_text().replace("What would a ban look like", "What would a ban mean"))
    from chatbot.content.load import load_content
    from chatbot.queue.apply import apply_plan

    with web.db.write() as session:
        apply_plan(session, load_content(web.config), web.config, web.now, "maty")
    assert web.post("fr-chat/q4").state == PostState.DRAFT
    page = rita.get(f"/posts/{web.post_id('fr-chat/q4')}").text
    assert "void: text, card or alt text edited" in page
    # Rejections need a note; the message comes back on the page, nothing changes.
    submit(rita, "/review", {"item": "fr-chat", "decision": "reject", "note": ""})
    assert "a rejection needs --note saying what to change" in rita.get("/").text
    assert web.post("fr-chat/q1").state == PostState.APPROVED


def test_live_panel_controls_answer_json_and_refuse_stale_versions(web: WebProject) -> None:
    hank = web.client("hank")
    headers = {"Accept": "application/json"}
    with web.db.read() as session:
        version = session.scalars(select(Chat.control_version)).one()
    data = {"verb": "delay", "duration": "2m", "version": str(version)}
    first = hank.post(
        "/chats/fr-chat/control",
        data={**data, "csrf_token": token(hank, "/chats/fr-chat")},
        headers=headers,
    )
    assert first.status_code == 200, first.text
    body = json.loads(first.text)
    assert body["ok"] and "delayed the rest of fr-chat by 2m" in body["message"]
    assert 'class="console"' in body["panel"] and "data-countdown" in body["panel"]
    # The same click again (same version): refused, nothing moves twice.
    second = hank.post(
        "/chats/fr-chat/control",
        data={**data, "csrf_token": token(hank, "/chats/fr-chat")},
        headers=headers,
    )
    assert second.status_code == 409 and "changed since you looked" in second.json["message"]
    intro = web.post("fr-chat/intro")
    assert intro.scheduled_at - intro.planned_at == timedelta(minutes=2)
    with web.db.read() as session:
        actions = [
            a.action for a in session.scalars(select(AuditEntry)) if a.action.startswith("chat.")
        ]
        who = {a.actor for a in session.scalars(select(AuditEntry)) if a.action == "chat.delay"}
    assert actions == ["chat.delay"] and who == {"hank"}
    bad = hank.post(
        "/chats/fr-chat/control",
        data={"verb": "delay", "duration": "soon", "csrf_token": token(hank, "/chats/fr-chat")},
        headers=headers,
    )
    assert bad.status_code == 409 and "is not a duration" in bad.json["message"]


def test_an_unapproved_chat_post_is_flagged_with_what_fixes_it(web: WebProject) -> None:
    olga = web.client("olga")
    panel = olga.get("/chats/fr-chat/panel").text
    assert "This chat is not approved yet." in panel  # one flag for the whole chat
    assert submit(olga, "/review", {"item": "fr-chat", "decision": "approve"}).status_code == 302
    assert "not approved" not in olga.get("/chats/fr-chat/panel").text
    # Q3 is edited after approval (the edit voided it): flagged, with both fixes offered.
    q3 = web.post_id("fr-chat/q3")
    with web.db.write() as session:
        session.execute(update(Post).where(Post.id == q3).values(state=PostState.DRAFT))
        session.execute(update(Approval).where(Approval.post_id == q3).values(voided_at=web.now))
    panel = olga.get("/chats/fr-chat/panel").text
    assert "Q3 is not approved" in panel
    assert "Approve Q3" in panel and "Skip Q3" in panel
    hank = web.client("hank")  # a host may skip but not approve
    hosted = hank.get("/chats/fr-chat/panel").text
    assert "Skip Q3" in hosted and "Approve Q3" not in hosted
    attention = olga.get("/attention").text
    assert "Not approved, due within 1d" in attention and "Approve fr-chat/q3" in attention
    approved = submit(
        olga,
        "/review",
        {"item": "fr-chat/q3", "decision": "approve", "back": "/chats/fr-chat"},
        "/chats/fr-chat",
    )
    assert approved.headers["Location"] == "/chats/fr-chat"
    assert web.post("fr-chat/q3").state == PostState.APPROVED
    assert "not approved" not in olga.get("/chats/fr-chat/panel").text


def test_needs_attention_lists_failures_and_settles_them(web: WebProject) -> None:
    q1 = web.post_id("fr-chat/q1")
    with web.db.write() as session:
        session.execute(
            update(Post)
            .where(Post.id == q1)
            .values(state=PostState.UNKNOWN, state_reason="timed out; reconciling", held=True)
        )
    olga = web.client("olga")
    page = olga.get("/attention").text
    assert "fr-chat/q1" in page and "timed out; reconciling" in page
    response = submit(
        olga,
        f"/posts/{q1}/settle",
        {"action": "posted", "url": "not a url"},
        page="/attention",
    )
    assert response.status_code == 302
    assert web.post("fr-chat/q1").state == PostState.UNKNOWN
    assert "give the post&#39;s URL" in olga.get("/attention").text
    submit(
        olga,
        f"/posts/{q1}/settle",
        {"action": "posted", "url": "https://x.com/libraryfreedom/status/123"},
        page="/attention",
    )
    post = web.post("fr-chat/q1")
    assert (post.state, post.remote_id, post.held) == (PostState.POSTED, "123", False)
    assert "olga marked fr-chat/q1 posted." in olga.get("/audit").text


def test_user_commands_and_a_removed_user_is_signed_out(web: WebProject, example: Project) -> None:
    olga = web.client("olga")
    assert olga.get("/").status_code == 200

    def run(*args: str, stdin: str | None = None) -> Any:
        return CliRunner().invoke(cli, ["--config", str(example.config_path), *args], input=stdin)

    cases = [
        (("user", "add", "sam", "--role", "reviewer", "--password-stdin"), "short", "at least 12"),
        (
            ("user", "add", "sam", "--role", "partner", "--password-stdin"),
            PASSWORD,
            "needs --account",
        ),
        (
            ("user", "add", "sam", "--role", "partner", "--account", "nope", "--password-stdin"),
            PASSWORD,
            "--account 'nope' is not in the config",
        ),
        (("user", "add", "olga", "--role", "reviewer", "--password-stdin"), PASSWORD, "already"),
        (("user", "add", "bad name", "--role", "host", "--password-stdin"), PASSWORD, "user name"),
    ]
    for args, password, message in cases:
        result = run(*args, stdin=password + "\n")
        assert result.exit_code == 1 and message in result.output, (args, result.output)
    added = run("user", "add", "sam", "--role", "host", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.exit_code == 0 and "added sam (host)" in added.output
    listing = run("user", "list").output
    assert re.search(r"^sam +host +- +last sign-in never$", listing, re.M), listing
    assert re.search(r"^pat +partner +masslib ", listing, re.M), listing
    assert PASSWORD not in listing
    assert web.client("sam").get("/chats/fr-chat").status_code == 200
    assert run("user", "remove", "olga").exit_code == 0
    response = olga.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert run("user", "remove", "olga").exit_code == 1


def test_the_app_refuses_to_start_without_a_session_secret(
    web: WebProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatbot.errors import ConfigError
    from chatbot.web import create_app

    monkeypatch.delenv("CHATBOT_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="CHATBOT_SECRET_KEY must be set"):
        create_app(config=web.config, db=web.db)
    monkeypatch.setenv("CHATBOT_SECRET_KEY", "too short")
    with pytest.raises(ConfigError, match="at least 32 random characters"):
        create_app(config=web.config, db=web.db)


def test_a_long_week_says_how_much_it_shows(example: Project) -> None:
    config = example.root / "config.yaml"
    config.write_text(config.read_text().replace("\nweb:\n", "\nweb:\n  page_size: 10\n"))
    web = WebProject(example.root)
    try:
        page = web.client("olga").get("/?week=2026-11-30").text
        # Ten posts: the originals as cards, their reposts as chips under them.
        assert page.count('class="post"') + page.count('class="chip chip-') == 10
        assert page.count('class="post"') < 10
        assert "Only the first 10 posts of this week are shown" in page
    finally:
        web.db.dispose()


def test_audit_entries_read_as_sentences() -> None:
    from chatbot.web.sentences import SENTENCES, sentence

    assert sentence("olga", "approve", "fr-chat", {"posts": 6, "note": "read through"}) == (
        "olga approved fr-chat (6 posts): “read through”."
    )
    assert sentence("hank", "chat.delay", "fr-chat", {"posts": ["a", "b"], "seconds": 120}) == (
        "hank delayed the rest of fr-chat by 2m (2 posts)."
    )
    assert sentence("worker", "account.paused", "lfp", {"reason": "402 credits depleted"}) == (
        "worker paused lfp: 402 credits depleted."
    )
    # An action the table does not know still reads as one line, with its details.
    assert sentence("maty", "content.export", "all", {"rows": 3}) == (
        "maty — content export all (rows: 3)."
    )
    # Every action the code writes has its sentence (the f-string ones are listed here).
    import re

    calls = re.compile(
        r'audit\(\s*[\w.]+,\s*[^,]+,\s*[^,]+,\s*(?:"[\w.]+" if \w+ else )?"([\w.]+)"'
        r'|audit_entry=\(\s*"[^"]+",\s*"([\w.]+)"'
    )
    written = {
        action
        for path in (ROOT / "chatbot").rglob("*.py")
        for match in calls.finditer(path.read_text())
        for action in match.groups()
        if action
    }
    assert {"apply", "approve", "account.paused", "partner.invited"} <= written  # it finds them
    written |= {f"chat.{v}" for v in ("pause", "resume", "skip", "delay", "now")}
    written |= {f"settle.{v}" for v in ("posted", "retry", "cancel")}
    assert written - set(SENTENCES) == set()


def test_the_console_flags_a_failed_post_with_its_settle_buttons(web: WebProject) -> None:
    with web.db.write() as session:
        session.execute(
            update(Post)
            .where(Post.key == "fr-chat/q2")
            .values(state=PostState.FAILED, state_reason="X said: duplicate content")
        )
        session.execute(
            update(Account).where(Account.key == "nela").values(paused=True, paused_reason="402")
        )
    olga = web.client("olga")
    panel = olga.get("/chats/fr-chat/panel").text
    assert "Q2 on lfp is failed</strong>: X said: duplicate content" in panel
    assert 'value="/chats/fr-chat"' in panel and "Mark posted" in panel
    assert "<strong>nela is paused</strong>: 402" in panel
    response = submit(
        olga, "/accounts/nela/resume", {"back": "/chats/fr-chat"}, page="/chats/fr-chat"
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/chats/fr-chat")
    with web.db.read() as session:
        assert session.scalars(select(Account.paused).where(Account.key == "nela")).one() is False
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert (entry.actor, entry.action, entry.target) == ("olga", "account.resumed", "nela")
    # A host may not resume accounts.
    hank = web.client("hank")
    assert submit(hank, "/accounts/nela/resume", {}, page="/chats/fr-chat").status_code == 403


def test_the_countdown_reads_in_whole_units() -> None:
    from datetime import UTC, datetime, timedelta

    from chatbot.web.console import countdown

    now = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    assert countdown(now - timedelta(seconds=1), now) == "due now"
    assert countdown(now + timedelta(seconds=42), now) == "in 42s"
    assert countdown(now + timedelta(minutes=3, seconds=5), now) == "in 3m 05s"
    assert countdown(now + timedelta(hours=2, minutes=10, seconds=59), now) == "in 2h 10m"
    assert countdown(now + timedelta(days=3, hours=1), now) == "in 3 days"


def test_the_favicon_is_public(web: WebProject) -> None:
    client = web.app.test_client()  # signed out
    for path in ("/favicon.svg", "/favicon.ico"):
        response = client.get(path)
        assert response.status_code == 200 and response.mimetype == "image/svg+xml"
        assert response.data.startswith(b"<svg")
    page = web.client("olga").get("/audit").text
    assert '<link rel="icon" href="/favicon.' in page and 'type="image/svg+xml"' in page


def test_the_accounts_page_shows_each_accounts_real_connection(
    web: WebProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LFP_API_KEY", raising=False)
    page = web.client("olga").get("/partners").text
    assert "credentials missing from the environment: LFP_API_KEY" in page
    assert "not connected yet: waiting for the partner to accept its invite" in page  # masslib_bsky
    for name in ("API_KEY", "API_SECRET", "ACCESS_TOKEN", "ACCESS_SECRET"):
        monkeypatch.setenv(f"LFP_{name}", "set")
    page = web.client("olga").get("/partners").text
    assert "credentials missing from the environment: LFP_API_KEY" not in page
    assert "credentials from the environment" in page

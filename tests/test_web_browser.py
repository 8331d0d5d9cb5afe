"""End to end in a real browser: Debian's headless Chromium driven by Playwright, against the web
app served over HTTP on loopback. An accessibility audit (axe-core from npm) runs on every page.

Needs /usr/bin/chromium (`apt-get install chromium`) and axe-core under .cache/npm
(`npm install --prefix .cache/npm axe-core@4`); `.ci/run` installs both.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from chatbot.db.models import Post, PostState
from tests.conftest import ROOT, Project
from tests.webkit import PASSWORD, WebProject, served

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = ROOT / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="browser tests need Debian's chromium at /usr/bin/chromium: apt-get install chromium",
    ),
    pytest.mark.skipif(
        not AXE.exists(),
        reason="browser tests need axe-core: npm install --prefix .cache/npm axe-core@4",
    ),
]


@pytest.fixture
def site(example: Project) -> Iterator[tuple[WebProject, str]]:
    web = WebProject(example.root)
    with served(web) as base:
        yield web, base
    web.db.dispose()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def sign_in(browser: Any, base: str, name: str, bypass_csp: bool = False) -> Any:
    # axe is injected as a script tag, which the app's CSP (rightly) forbids: only the audit
    # context bypasses it.
    page = browser.new_context(bypass_csp=bypass_csp).new_page()
    page.goto(f"{base}/")
    assert "/login" in page.url
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    return page


def test_sign_in_approve_a_chat_pause_resume_and_settle(
    site: tuple[WebProject, str], browser: Any
) -> None:
    web, base = site
    page = sign_in(browser, base, "olga")
    page.goto(f"{base}/chats/fr-chat")
    page.get_by_label("Note").fill("script read through")
    page.get_by_role("button", name="Approve the chat").click()
    assert "posts approved by olga" in page.locator(".flash").inner_text()
    assert web.post("fr-chat/q5").state == PostState.APPROVED

    # Hosting: the panel updates in place, without a page load.
    page.evaluate("window.notReloaded = true")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("[data-state]")).to_have_attribute("data-state", "paused")
    expect(page.locator("[data-state]")).to_have_text("Paused")
    assert "paused fr-chat" in page.locator("#live-message").inner_text()
    web.now = web.now + timedelta(minutes=3)
    page.get_by_role("button", name="Resume (shift the rest)").click()
    expect(page.locator("[data-state]")).not_to_have_attribute("data-state", "paused")
    assert "moved 3m later" in page.locator("#live-message").inner_text()
    assert page.evaluate("window.notReloaded") is True
    intro = web.post("fr-chat/intro")
    assert (intro.scheduled_at - intro.planned_at).total_seconds() == 180

    # A failure shows up on "needs attention" and is settled there.
    with web.db.write() as session:
        session.execute(
            update(Post)
            .where(Post.key == "fr-chat/q1")
            .values(state=PostState.FAILED, state_reason="X said: text is too long")
        )
    page.get_by_role("link", name="Needs attention").click()
    assert "X said: text is too long" in page.content()
    page.get_by_label("It did go out: its URL").fill("https://x.com/libraryfreedom/status/42")
    page.get_by_role("button", name="Mark posted").click()
    assert "marked posted by olga" in page.locator(".flash").inner_text()
    assert web.post("fr-chat/q1").remote_url == "https://x.com/libraryfreedom/status/42"


def _audit(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_no_serious_accessibility_violation_on_any_page(
    site: tuple[WebProject, str], browser: Any
) -> None:
    web, base = site
    signed_out = browser.new_context(bypass_csp=True).new_page()
    # The audit itself works: an unlabelled field is a critical violation.
    signed_out.set_content("<html lang='en'><title>t</title><main><input></main></html>")
    assert [v["id"] for v in _audit(signed_out)] == ["label"]
    signed_out.goto(f"{base}/login")
    problems = {"/login": _audit(signed_out)}
    page = sign_in(browser, base, "olga", bypass_csp=True)
    paths = [
        "/?week=2026-11-30",
        f"/posts/{web.post_id('fr-chat/q1')}",
        f"/posts/{web.post_id('fr-chat/q1@masslib')}",
        "/chats/fr-chat",
        "/attention",
        "/audit",
        "/partners",
        "/posts/999999",
    ]
    for path in paths:
        page.goto(f"{base}{path}")
        problems[path] = _audit(page)
    partner = sign_in(browser, base, "pat", bypass_csp=True)
    partner.goto(f"{base}/?week=2026-11-30")
    problems["/ (partner)"] = _audit(partner)
    partner.goto(f"{base}/partner")
    problems["/partner"] = _audit(partner)
    from chatbot.connect.service import create_invite

    for account in ("masslib", "masslib_bsky"):  # the sign-in button, the app-password form
        link = create_invite(web.db, web.config, account, "olga", web.now)
        signed_out.goto(base + link.removeprefix(web.config.settings.web.public_url))
        problems[f"invite ({account})"] = _audit(signed_out)
    found = {
        path: [
            f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes: "
            f"{[(n['target'], n.get('failureSummary')) for n in v['nodes']][:2]})"
            for v in issues
        ]
        for path, issues in problems.items()
        if issues
    }
    assert found == {}


def test_the_console_updates_live_from_another_tab_and_counts_down(
    site: tuple[WebProject, str], browser: Any
) -> None:
    """Two hosts on the chat page: a control in one shows in the other without a reload, and
    the next post's countdown ticks."""
    web, base = site
    watcher = sign_in(browser, base, "olga")
    watcher.goto(f"{base}/chats/fr-chat")
    watcher.get_by_role("button", name="Approve the chat").click()
    expect(watcher.locator("[data-approved]")).to_be_visible()
    assert watcher.get_by_role("button", name="Approve the chat").count() == 0
    watcher.evaluate("window.notReloaded = true")
    countdown = watcher.locator("[data-countdown]")
    first = countdown.inner_text()
    assert first.startswith("in "), first
    expect(countdown).not_to_have_text(first, timeout=3000)  # it ticks

    host = sign_in(browser, base, "hank")
    host.goto(f"{base}/chats/fr-chat")
    host.get_by_role("button", name="Pause").click()
    expect(host.locator("[data-state]")).to_have_attribute("data-state", "paused")
    # The other tab sees it within its poll, without a reload.
    expect(watcher.locator("[data-state]")).to_have_attribute("data-state", "paused", timeout=5000)
    assert watcher.evaluate("window.notReloaded") is True
    # A skip from the CLI's function shows in the script's state too.
    from chatbot.queue import live

    with web.db.write() as session:
        live.resume(session, "fr-chat", web.now, "cli", mode="keep")
        live.skip(session, "fr-chat", web.now, "cli", number=1)
    q1 = watcher.locator('[data-state-of="fr-chat/q1"]')
    expect(q1).to_have_text("skipped", timeout=5000)
    assert watcher.evaluate("window.notReloaded") is True


def _screenshot(page: Any, path: str, width: int) -> None:
    """With CHATBOT_SCREENSHOTS=DIR, the page is saved there too (docs/screenshots for the
    README: ``CHATBOT_SCREENSHOTS=docs/screenshots pytest tests/test_web_browser.py -k phone``)."""
    import os

    folder = os.environ.get("CHATBOT_SCREENSHOTS")
    if folder:
        name = path.strip("/").split("?")[0].replace("/", "-") or "timeline"
        if name.startswith("posts-"):
            name = "post"
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)


def _one_line_each(page: Any, selector: str) -> list[str]:
    """The elements matching ``selector`` that wrap onto more than one line (a state badge or
    a time broken mid-word)."""
    return page.evaluate(
        """(sel) => Array.from(document.querySelectorAll(sel)).filter(el => {
             const range = document.createRange();
             range.selectNodeContents(el);
             const tops = new Set(Array.from(range.getClientRects())
               .filter(r => r.width > 0).map(r => Math.round(r.bottom)));
             return tops.size > 1;
           }).map(el => el.textContent.trim())""",
        selector,
    )


def test_every_page_fits_a_phone_without_breaking_words(
    site: tuple[WebProject, str], browser: Any
) -> None:
    web, base = site
    for width in (390, 1280):
        page = sign_in(browser, base, "olga")
        page.set_viewport_size({"width": width, "height": 900})
        for path in (
            "/chats/fr-chat",
            "/?week=2026-11-30",
            f"/posts/{web.post_id('fr-chat/q1')}",
            "/attention",
            "/audit",
            "/partners",
        ):
            page.goto(f"{base}{path}")
            _screenshot(page, path, width)
            wide = page.evaluate(
                """() => Array.from(document.querySelectorAll('main *'))
                     .filter(e => e.getBoundingClientRect().right > innerWidth + 1)
                     .slice(0, 5).map(e => e.tagName + '.' + e.className)"""
            )
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (
                path,
                width,
                wide,
            )
            broken = _one_line_each(page, ".state, .badge, .nowrap, .chip a, .step-label")
            assert broken == [], (path, width, broken)
    partner = sign_in(browser, base, "pat")
    partner.set_viewport_size({"width": 390, "height": 844})
    partner.goto(f"{base}/partner")
    _screenshot(partner, "/partner", 390)
    assert partner.evaluate("document.documentElement.scrollWidth") <= 390
    text = partner.locator("main").inner_text()
    assert "content/" not in text and "@masslib" not in text.split("Your account")[0]


def test_usable_on_a_phone_and_by_keyboard(site: tuple[WebProject, str], browser: Any) -> None:
    _, base = site
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(f"{base}/login")
    # The first Tab reaches the skip link, which is then visible.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "name"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    page.keyboard.type("olga")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/?week=2026-11-30")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "no sideways scrolling on a phone"


def test_partner_connects_bluesky_by_invite_then_pauses_and_disconnects(
    example: Project, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole partner journey in the browser: the organizer's invite, the partner's consent
    and app password, its own account page, pause, and disconnect."""
    from cryptography.fernet import Fernet

    from chatbot.db.models import Account, Credential
    from chatbot.web.users import add_user, new_password
    from tests.blueskyserver import BlueskyServer

    pds = BlueskyServer().start()
    bsky = pds.add_account("masslib.bsky.social")
    monkeypatch.setenv("CHATBOT_TOKEN_KEYS", Fernet.generate_key().decode())
    config = example.root / "config.yaml"
    config.write_text(
        config.read_text().replace(
            "    credentials: invite ",
            f"    instance_url: {pds.url}\n    credentials: invite ",
        )
    )
    web = WebProject(example.root)
    with web.db.write() as session:
        accounts = set(web.config.settings.accounts)
        add_user(
            session, "mlab", new_password(PASSWORD), "partner", "masslib_bsky", web.now, accounts
        )
    with served(web) as base:
        olga = sign_in(browser, base, "olga")
        olga.get_by_role("link", name="Accounts").click()
        olga.get_by_role("button", name="Invite masslib_bsky").click()
        link = olga.get_by_label("Invite link").input_value()
        assert link.startswith(web.config.settings.web.public_url + "/connect/")

        partner = browser.new_context().new_page()
        partner.goto(base + link.removeprefix(web.config.settings.web.public_url))
        assert "Connect @masslib.bsky.social (bluesky)" in partner.content()
        assert "fr-chat/q1+lfp_bsky@masslib_bsky" in partner.content(), "consent: what it posts"
        partner.get_by_label("App password for @masslib.bsky.social").fill(bsky.app_password)
        partner.get_by_role("button", name="Connect Bluesky account").click()
        expect(partner.get_by_role("heading", level=1)).to_have_text("masslib_bsky is connected")
        assert bsky.app_password not in partner.content()
        with web.db.read() as session:
            stored = session.query(Credential).one()
        assert stored.account_key == "masslib_bsky" and bsky.app_password not in stored.secret

        own = sign_in(browser, base, "mlab")
        own.get_by_role("link", name="Your account").click()
        own.get_by_role("button", name="Pause posting").click()
        assert "paused: nothing will be posted" in own.locator(".flash").inner_text()
        own.get_by_role("button", name="Disconnect and delete tokens").click()
        assert "tokens are deleted" in own.locator(".flash").inner_text()
        with web.db.read() as session:
            assert session.query(Credential).count() == 0
            account = session.query(Account).filter_by(key="masslib_bsky").one()
        assert account.paused and "disconnected" in (account.paused_reason or "")
        assert "held" in own.content()
        web.db.dispose()
        pds.stop()

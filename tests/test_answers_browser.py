"""The console's answers in a real browser (Debian's Chromium): a new answer appears within the
page's one-second fetch, the host's repost and reply are sent without a reload, the section has
no serious accessibility violation, and it fits a phone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from chatbot.answers import store
from chatbot.db.models import Post, PostState
from chatbot.publishers.base import FoundPost
from tests.conftest import Project
from tests.test_web_browser import _audit, _screenshot, expect, pytestmark, sign_in
from tests.webkit import NOW, WebProject, served

__all__ = ["pytestmark"]  # the reasons these tests skip (no Chromium, no axe-core)
Q1_AT = NOW + timedelta(hours=1, minutes=7)


def _answer(web: WebProject, platform: str, author: str, text: str, seconds: int) -> None:
    with web.db.write() as s:
        [chat] = store.chats(s, web.config.settings, ["fr-chat"])
        remote = f"{platform}-{author}-{seconds}"
        url = f"https://example.social/{author.strip('@')}/{seconds}"
        at = Q1_AT + timedelta(seconds=seconds)
        store.record(s, chat, platform, [FoundPost(remote, author, text, url, at)], web.now)


@pytest.fixture
def site(example: Project) -> Iterator[tuple[WebProject, str]]:
    web = WebProject(example.root)
    with web.db.write() as s:
        s.execute(
            update(Post)
            .where(Post.key.like("fr-chat/q1%"), Post.depends_on_id.is_(None))
            .values(state=PostState.POSTED, remote_id=Post.key, posted_at=Q1_AT)
        )
    web.now = Q1_AT + timedelta(minutes=2)
    _answer(web, "mastodon", "@cleo@library.social", "A1 A list of who walked in #LFPchat", 40)
    _answer(
        web,
        "bluesky",
        "@eve.bsky.social",
        "A1 Consent is impossible when the camera is on the door. Who signs for a child? #LFPchat",
        50,
    )
    _answer(
        web, "x", "@ana", "A1 Nobody asked the patrons, and nobody asked the staff #LFPchat", 55
    )
    with served(web) as base:
        yield web, base
    web.db.dispose()


def test_answers_arrive_live_and_the_host_reposts_and_replies_without_a_reload(
    site: tuple[WebProject, str], browser: Any
) -> None:
    web, base = site
    page = sign_in(browser, base, "hank", bypass_csp=True)
    page.goto(f"{base}/chats/fr-chat")
    answers = page.locator("#answers")
    expect(answers.get_by_role("heading", name="Answers to Q1")).to_be_visible()
    assert answers.locator(".answer").count() == 3
    assert _audit(page) == []
    page.evaluate("window.notReloaded = true")

    _answer(web, "mastodon", "@dev@library.social", "A1 Our board never voted on it #LFPchat", 70)
    expect(answers.get_by_text("Our board never voted on it")).to_be_visible(timeout=3000)
    newest = answers.locator(".answer").first.locator(".who")
    assert newest.inner_text() == "@dev@library.social", "newest first"

    cleo = answers.locator(".answer", has_text="@cleo@library.social")
    cleo.get_by_role("button", name="Repost @cleo@library.social's answer").click()
    expect(page.locator("#answers-message")).to_have_text(
        "repost queued from lfp_masto: it goes out in a moment"
    )
    ana = answers.locator(".answer", has_text="@ana")
    assert ana.get_by_role("button", name="Like @ana's answer").count() == 0, "no likes on X"
    ana.get_by_text("Reply", exact=True).click()
    ana.get_by_label("Reply to @ana").fill("Thank you: that is the whole point of the ban.")
    ana.get_by_role("button", name="Send reply").click()
    expect(page.locator("#answers-message")).to_have_text(
        "reply queued from lfp: it goes out in a moment"
    )
    assert page.evaluate("window.notReloaded") is True
    with web.db.read() as s:
        kinds = sorted(p.kind for p in s.scalars(select(Post).where(Post.kind.like("answer-%"))))
    assert kinds == ["answer-reply", "answer-repost"]


def test_the_answers_fit_a_phone(site: tuple[WebProject, str], browser: Any) -> None:
    _, base = site
    for width in (1280, 390):
        page = sign_in(browser, base, "hank")
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{base}/chats/fr-chat#answers")
        page.locator("#answers").scroll_into_view_if_needed()
        _screenshot(page, "/chats/fr-chat-answers", width)
        assert page.evaluate("document.documentElement.scrollWidth") <= width

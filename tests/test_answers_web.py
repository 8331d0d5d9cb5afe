"""The console's answers in the web app (in process): what a host, a reviewer and a partner
see and may do, the fragment the page fetches every second, and what each platform's reading
is missing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from chatbot.answers import store
from chatbot.db.models import Answer, AnswerSource, AuditEntry, Post, PostState
from chatbot.publishers.base import FoundPost
from tests.conftest import Project
from tests.webkit import NOW, WebProject, token

Q1_AT = NOW + timedelta(hours=1, minutes=7)  # the example chat: intro 20:00 EST, Q1 20:07


@pytest.fixture
def web(example: Project, db_url: str) -> Iterator[WebProject]:
    project = WebProject(example.root, db_url)
    # Q1 went out on every host platform; three people answered.
    with project.db.write() as s:
        s.execute(
            update(Post)
            .where(Post.key.like("fr-chat/q1%"), Post.depends_on_id.is_(None))
            .values(
                state=PostState.POSTED,
                remote_id=Post.key,  # any unique id will do
                posted_at=Q1_AT,
            )
        )
    project.now = Q1_AT + timedelta(minutes=2)
    with project.db.write() as s:
        [chat] = store.chats(s, project.config.settings, ["fr-chat"])
        store.record(
            s,
            chat,
            "mastodon",
            [
                FoundPost(
                    "m-1",
                    "@cleo@library.social",
                    "A1 A list of who walked in <b>#LFPchat</b>",
                    "https://library.social/@cleo/1",
                    Q1_AT + timedelta(seconds=40),
                )
            ],
            project.now,
        )
        store.record(
            s,
            chat,
            "bluesky",
            [
                FoundPost(
                    "at://did:plc:eve/app.bsky.feed.post/1",
                    "@eve.bsky.social",
                    "A1 consent is impossible #LFPchat",
                    "https://bsky.app/profile/eve.bsky.social/post/1",
                    Q1_AT + timedelta(seconds=50),
                ),
                FoundPost(
                    "at://did:plc:fay/app.bsky.feed.post/2",
                    "@fay.bsky.social",
                    "Hello everyone #LFPchat",
                    "https://bsky.app/profile/fay.bsky.social/post/2",
                    NOW,  # before Q1: not placed
                ),
            ],
            project.now,
        )
        s.add(
            AnswerSource(
                chat_key="fr-chat",
                platform="x",
                account_key="lfp",
                mode="capped",
                problem="X reading stopped at this chat's cap: 300 posts read (about $1.50)",
            )
        )
    yield project
    project.db.dispose()


def test_the_console_lists_the_current_questions_answers_with_counts(web: WebProject) -> None:
    page = web.client("hank").get("/chats/fr-chat")
    assert page.status_code == 200
    html = page.text
    assert 'id="answers"' in html and "Answers to Q1" in html
    assert "@cleo@library.social" in html and "@eve.bsky.social" in html
    assert "@fay.bsky.social" not in html, "not placed: listed under 'Not placed', not Q1"
    assert "&lt;b&gt;#LFPchat&lt;/b&gt;" in html, "a participant's text is escaped"
    assert 'href="https://library.social/@cleo/1"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert "X reading stopped at this chat&#39;s cap" in html
    assert "deleted 1d after that" in html
    # Counts per question and platform, the not-placed row included.
    assert "Q1 (2)" in html and "Not placed (1)" in html
    # The host's buttons: no like on X (none here), like on Mastodon and Bluesky.
    assert html.count(">Like<") == 2 and html.count(">Repost<") == 2 and "Send reply" in html


def test_the_fragment_by_question_and_for_each_role(web: WebProject) -> None:
    rita = web.client("rita")
    fragment = rita.get("/chats/fr-chat/answers?q=0")
    assert fragment.status_code == 200
    assert "@fay.bsky.social" in fragment.text and "@cleo" not in fragment.text
    all_q1 = rita.get("/chats/fr-chat/answers").text
    assert "@cleo@library.social" in all_q1 and ">Repost<" not in all_q1, "a reviewer only reads"
    assert web.client("pat").get("/chats/fr-chat/answers").status_code == 403
    assert web.client().get("/chats/fr-chat/answers").status_code in (302, 401, 403)
    assert web.client("hank").get("/chats/nope/answers").status_code == 404


def test_a_hosts_repost_is_queued_approved_by_the_click_and_audited(web: WebProject) -> None:
    hank = web.client("hank")
    with web.db.read() as s:
        [answer] = [a for a in store.listed(s, "fr-chat") if a.author == "@cleo@library.social"]
    path = f"/chats/fr-chat/answers/{answer.id}/repost"
    csrf = token(hank, "/chats/fr-chat")
    headers = {"Accept": "application/json"}
    first = hank.post(path, data={"csrf_token": csrf}, headers=headers)
    assert first.status_code == 200 and first.json["ok"], first.text
    assert first.json["message"] == "repost queued from lfp_masto: it goes out in a moment"
    again = hank.post(path, data={"csrf_token": csrf}, headers=headers)
    assert again.json["message"].startswith("already reposted")
    with web.db.read() as s:
        [post] = s.scalars(select(Post).where(Post.kind == "answer-repost")).all()
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "answer.repost"))
    assert post.state == PostState.APPROVED and post.account_key == "lfp_masto"
    assert post.target_remote_id == "m-1"
    assert entry.actor == "hank" and entry.detail["approval"] == "the host's click"

    # Without JavaScript the form posts and comes back to the console with the message.
    reply = hank.post(
        f"/chats/fr-chat/answers/{answer.id}/reply",
        data={"csrf_token": csrf, "text": ""},
    )
    assert reply.status_code == 302 and reply.headers["Location"].endswith("/chats/fr-chat")
    assert "write the reply first" in hank.get("/chats/fr-chat").text


def test_actions_need_the_host_role_and_a_csrf_token(web: WebProject) -> None:
    with web.db.read() as s:
        answer = store.listed(s, "fr-chat")[0]
    path = f"/chats/fr-chat/answers/{answer.id}/like"
    rita = web.client("rita")
    assert rita.post(path, data={"csrf_token": token(rita, "/chats/fr-chat")}).status_code == 403
    hank = web.client("hank")
    assert hank.post(path, data={}).status_code == 400  # no CSRF token
    assert (
        hank.post(
            f"/chats/fr-chat/answers/{answer.id}/follow",
            data={"csrf_token": token(hank, "/chats/fr-chat")},
        ).status_code
        == 404
    )
    with web.db.read() as s:
        assert s.scalars(select(Post).where(Post.kind.like("answer-%"))).all() == []


def test_the_version_changes_with_a_new_answer_or_a_platforms_state(web: WebProject) -> None:
    """The page asks for the version four times a second and fetches the fragment only when it
    changes; a platform not read for 30 s is flagged (is the worker running?)."""
    rita = web.client("rita")
    first = rita.get("/chats/fr-chat/answers/version").json["v"]
    assert rita.get("/chats/fr-chat/answers/version").json["v"] == first
    with web.db.write() as s:
        [chat] = store.chats(s, web.config.settings, ["fr-chat"])
        found = FoundPost("m-2", "@dev", "A1 more", "https://x/2", Q1_AT, None)
        store.record(s, chat, "mastodon", [found], web.now)
    second = rita.get("/chats/fr-chat/answers/version").json["v"]
    assert second != first
    with web.db.write() as s:
        s.add(
            AnswerSource(
                chat_key="fr-chat",
                platform="bluesky",
                account_key="lfp_bsky",
                read_at=web.now - timedelta(seconds=10),
            )
        )
    third = rita.get("/chats/fr-chat/answers/version").json["v"]
    assert third != second
    assert "reading" in rita.get("/chats/fr-chat/answers").text
    web.now += timedelta(seconds=25)
    fourth = rita.get("/chats/fr-chat/answers/version").json["v"]
    assert fourth != third
    assert "is <code>chatbot run</code> running?" in rita.get("/chats/fr-chat/answers").text
    assert web.client("pat").get("/chats/fr-chat/answers/version").status_code == 403


def test_the_version_changes_when_a_question_goes_out_or_answers_are_purged(
    web: WebProject,
) -> None:
    """The list follows the current question and empties at the purge: the page must refetch
    then too, not only when a newer answer arrives."""
    rita = web.client("rita")
    before = rita.get("/chats/fr-chat/answers/version").json["v"]
    with web.db.write() as s:
        s.execute(
            update(Post)
            .where(Post.key.like("fr-chat/q2%"), Post.depends_on_id.is_(None))
            .values(state=PostState.POSTED, remote_id=Post.key, posted_at=web.now)
        )
    after_q2 = rita.get("/chats/fr-chat/answers/version").json["v"]
    assert after_q2 != before
    assert "Answers to Q2" in rita.get("/chats/fr-chat/answers").text
    with web.db.write() as s:
        s.execute(delete(Answer).where(Answer.author == "@cleo@library.social"))
    assert rita.get("/chats/fr-chat/answers/version").json["v"] != after_q2


def test_a_hosts_action_reads_as_a_sentence_in_the_audit_log() -> None:
    from chatbot.web.sentences import sentence

    detail = {"approval": "the host's click", "chat": "fr-chat", "platform": "mastodon"}
    assert sentence("hank", "answer.repost", "answer/fr-chat/mastodon/1/repost", detail) == (
        "hank reposted an answer on mastodon in fr-chat from the console (the click approved it)."
    )

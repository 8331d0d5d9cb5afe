"""Hostile sessions: a cookie means one person for life, sessions end when they should,
guessing is throttled, and signing in never holds the database's write lock while it hashes.
HTTP-level, through Flask's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from chatbot.cli import cli
from chatbot.db.models import AuditEntry, User
from tests.conftest import Project
from tests.webkit import PASSWORD, WebProject, token


@pytest.fixture
def web(example: Project, db_url: str) -> Iterator[WebProject]:
    project = WebProject(example.root, db_url)
    yield project
    project.db.dispose()


def cli_run(example: Project, *args: str, stdin: str | None = None) -> Any:
    result = CliRunner().invoke(cli, ["--config", str(example.config_path), *args], input=stdin)
    assert result.exit_code == 0, result.output
    return result


def signed_in(client: FlaskClient) -> bool:
    return client.get("/").status_code == 200


def attempt(web: WebProject, client: FlaskClient, name: str, password: str) -> Any:
    return client.post(
        "/login", data={"name": name, "password": password, "csrf_token": token(client)}
    )


def copy_cookies(source: FlaskClient, target: FlaskClient) -> None:
    for cookie in source._cookies.values():  # the attacker's copy of the victim's cookie
        target.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)


def test_a_removed_users_cookie_never_signs_in_the_next_user(
    web: WebProject, example: Project
) -> None:
    """On SQLite the removed partner's id went to the next user added: its cookie signed in
    as that organizer. Now a session belongs to one user row, and ids are never reused."""
    cli_run(example, "user", "add", "sal", "--role", "partner", "--account", "masslib",
            "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    partner = web.client("sal")
    assert signed_in(partner)
    with web.db.read() as session:
        old_id = session.scalars(select(User.id).where(User.name == "sal")).one()
    cli_run(example, "user", "remove", "sal")
    cli_run(example, "user", "add", "root", "--role", "organizer", "--password-stdin",
            stdin=PASSWORD + "\n")  # fmt: skip
    with web.db.read() as session:
        new_id = session.scalars(select(User.id).where(User.name == "root")).one()
    assert new_id != old_id
    response = partner.get("/audit")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    "change",
    [
        ("user", "password", "olga", "--password-stdin"),
        ("user", "role", "olga", "--role", "reviewer"),
        ("user", "remove", "olga"),
    ],
)
def test_a_new_password_or_role_or_removal_ends_every_session(
    web: WebProject, example: Project, change: tuple[str, ...]
) -> None:
    laptop, phone = web.client("olga"), web.client("olga")
    assert signed_in(laptop) and signed_in(phone)
    cli_run(example, *change, stdin="a brand new passphrase\n")
    assert not signed_in(laptop) and not signed_in(phone)


def test_signing_out_ends_every_session_and_a_copied_cookie_with_it(web: WebProject) -> None:
    laptop, phone = web.client("rita"), web.client("rita")
    thief = web.app.test_client()
    copy_cookies(laptop, thief)
    assert signed_in(thief), "the copy works while the session lives (it is the same cookie)"
    out = laptop.post("/logout", data={"csrf_token": token(laptop, "/")})
    assert out.status_code == 302
    assert not signed_in(laptop) and not signed_in(phone) and not signed_in(thief)
    assert signed_in(web.client("rita")), "signing in again works"


def test_a_session_ends_after_its_lifetime(web: WebProject) -> None:
    client = web.client("hank")
    web.now += timedelta(days=14, seconds=1)
    assert not signed_in(client)


def test_repeated_failures_are_refused_with_429_for_a_growing_time(web: WebProject) -> None:
    client = web.app.test_client()
    for _ in range(5):
        assert attempt(web, client, "olga", "wrong password, again").status_code == 401
    refused = attempt(web, client, "olga", PASSWORD)  # even the right one, during the wait
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    assert "Too many failed sign-ins" in refused.text
    web.now += timedelta(seconds=31)
    assert attempt(web, client, "olga", "still wrong, sorry").status_code == 401
    again = attempt(web, client, "olga", PASSWORD)
    assert again.status_code == 429 and again.headers["Retry-After"] == "60"  # doubled
    web.now += timedelta(seconds=61)
    ok = attempt(web, client, "olga", PASSWORD)
    assert ok.status_code == 302, "the right password works once the wait is over"
    with web.db.read() as session:
        failed = list(
            session.scalars(select(AuditEntry).where(AuditEntry.action == "sign_in.failed"))
        )
    assert len(failed) == 6 and {a.target for a in failed} == {"olga"}
    assert "name:olga for 30 s" in failed[4].detail["locked"]
    # A success starts the name's count afresh.
    for _ in range(4):
        assert attempt(web, client, "olga", "wrong password, again").status_code == 401
    assert attempt(web, client, "olga", PASSWORD).status_code == 302


def test_guessing_many_names_from_one_client_is_throttled_too(web: WebProject) -> None:
    client = web.app.test_client()
    for name in ("ana", "ben", "cy", "dee", "eve"):
        assert attempt(web, client, name, "a guess at a password").status_code == 401
    refused = attempt(web, client, "rita", PASSWORD)
    assert refused.status_code == 429


def test_sign_in_never_holds_the_write_lock_while_it_hashes(
    example: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """Eight slow wrong-password requests once held SQLite's write lock long enough to make
    a live chat's questions 11 s late. Now the password is checked with no transaction open:
    while a sign-in is inside argon2, another process can still write."""
    from chatbot.web import users

    web = WebProject(example.root)
    real = users.hasher()
    inside = threading.Event()
    release = threading.Event()

    class SlowHasher:
        def verify(self, hashed: str, password: str) -> bool:
            inside.set()
            release.wait(10)
            return bool(real.verify(hashed, password))

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(users, "hasher", lambda: SlowHasher())
    client = web.app.test_client()
    csrf = token(client)
    result: list[int] = []
    request = threading.Thread(
        target=lambda: result.append(
            client.post(
                "/login", data={"name": "olga", "password": "wrong!" * 3, "csrf_token": csrf}
            ).status_code
        )
    )
    request.start()
    try:
        assert inside.wait(10), "the sign-in never reached the password check"
        other = sqlite3.connect(example.root / "var" / "chatbot.db", timeout=0)
        other.execute("BEGIN IMMEDIATE")  # raises "database is locked" if a writer holds it
        other.execute("ROLLBACK")
        other.close()
    finally:
        release.set()
        request.join(10)
        web.db.dispose()
    assert result == [401]


def test_the_passwords_are_hashed_with_argon2id_at_the_recommended_cost(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # the real hasher, not the tests' cheap one
    from argon2 import PasswordHasher

    from chatbot.web.users import hasher, new_password

    stored = new_password("correct horse battery staple").hash
    params = PasswordHasher()
    assert stored.startswith("$argon2id$")
    assert f"m={params.memory_cost},t={params.time_cost},p={params.parallelism}" in stored
    assert hasher().verify(stored, "correct horse battery staple")


@pytest.mark.parametrize("field", ["next", "back"])
def test_a_line_break_in_a_redirect_target_is_a_400(web: WebProject, field: str) -> None:
    client = web.client("olga")
    if field == "next":
        response = client.post(
            "/login?next=/%0d%0aSet-Cookie:%20x=1",
            data={"name": "olga", "password": PASSWORD, "csrf_token": token(client)},
        )
    else:
        response = client.post(
            "/review",
            data={
                "item": "nothing-here",
                "decision": "approve",
                "back": "/\r\nLocation: https://evil.example/",
                "csrf_token": token(client, "/"),
            },
        )
    assert response.status_code == 400


def test_a_malformed_database_url_is_shown_without_its_password(project: Project) -> None:
    result = CliRunner().invoke(
        cli,
        ["--config", str(project.config_path), "status"],
        env={"DATABASE_URL": "postgresql+psycopg://chatbot:hunter2-secret@db:notaport/chatbot"},
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "hunter2-secret" not in result.output
    assert "chatbot:***@db" in result.output


@pytest.mark.parametrize(
    ("web_settings", "secure"),
    [
        ('{public_url: "https://chat.libraryfreedom.org"}', True),
        ('{public_url: "http://127.0.0.1:8000"}', False),
        ('{public_url: "https://chat.libraryfreedom.org", secure_cookies: false}', False),
    ],
)
def test_secure_cookies_follow_an_https_public_url(
    example: Project, web_settings: str, secure: bool
) -> None:
    config = example.config_path
    text = config.read_text()
    start = text.index("\nweb:\n")
    end = text.index("\n\n", start + 1)
    config.write_text(text[:start] + f"\nweb: {web_settings}\n" + text[end:])
    web = WebProject(example.root)
    try:
        cookie = web.app.test_client().get("/login").headers.get("Set-Cookie", "")
        assert ("Secure" in cookie) is secure
    finally:
        web.db.dispose()


def test_a_post_page_never_waits_on_the_whole_queue_review(web: WebProject) -> None:
    """A YAML bomb once held the findings lock for ever and froze every post page. Now the
    review runs in the background, once per version of the content, and a page waits for it
    only ``page_wait`` seconds."""
    from chatbot.web import preview
    from tests.test_security import BOMB

    findings = web.app.extensions["chatbot"]["findings"]
    findings.page_wait = 0.2
    client = web.client("rita")
    busy = threading.Event()
    preview._REVIEWER.submit(busy.wait, 30)  # the review thread is busy with a huge queue
    try:
        (web.root / "content" / "chats" / "bomb.yaml").write_text(BOMB)  # a new version
        page = client.get(f"/posts/{web.post_id('fr-chat/q1')}")
        assert page.status_code == 200
        assert "The review of the content is still running" in page.text
        assert client.get("/").status_code == 200  # other pages never wait at all
    finally:
        busy.set()
    findings.page_wait = 10
    page = client.get(f"/posts/{web.post_id('fr-chat/q1')}").text
    assert "still running" not in page and "Vision findings" in page
    refused = submit_review(client)
    assert "expands to more than 200,000 values" in refused  # the bomb blocks approval


def submit_review(client: FlaskClient) -> str:
    response = client.post(
        "/review",
        data={"item": "fr-chat", "decision": "approve", "csrf_token": token(client, "/")},
        follow_redirects=True,
    )
    return response.text

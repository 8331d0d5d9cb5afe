"""A web app over the example content with one user per role, for in-process and browser tests."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.serving import make_server

from chatbot.config import load_config
from chatbot.content.load import load_content
from chatbot.db import Post, open_database
from chatbot.db.session import Database
from chatbot.queue.apply import apply_plan
from chatbot.web import create_app
from chatbot.web.users import add_user, new_password

NOW = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)  # 19:00 EST, an hour before the example chat
PASSWORD = "correct horse battery staple"
SECRET = "test-secret-" + "x" * 40
USERS = {
    "olga": ("organizer", None),
    "rita": ("reviewer", None),
    "hank": ("host", None),
    "pat": ("partner", "masslib"),
    "nora": ("partner", "nela"),
}


class WebProject:
    def __init__(self, root: Path, db_url: str | None = None):
        self.root = root
        config_path = root / "config.yaml"
        if db_url is not None:
            text = config_path.read_text().replace(
                "database_url: sqlite:///var/chatbot.db", f"database_url: {db_url}"
            )
            config_path.write_text(text)
        self.config = load_config(str(config_path))
        self.db: Database = open_database(self.config.database_url)
        self.now = NOW
        password = new_password(PASSWORD)
        with self.db.write() as session:
            apply_plan(session, load_content(self.config), self.config, NOW, "maty")
            for name, (role, account) in USERS.items():
                add_user(
                    session,
                    name,
                    password,
                    role,
                    account,
                    NOW,
                    set(self.config.settings.accounts),
                )
        self.app: Flask = create_app(
            config=self.config, db=self.db, secret_key=SECRET, clock=lambda: self.now
        )

    def post_id(self, key: str) -> int:
        with self.db.read() as session:
            return int(session.scalars(select(Post.id).where(Post.key == key)).one())

    def post(self, key: str) -> Post:
        with self.db.read() as session:
            return session.scalars(select(Post).where(Post.key == key)).one()

    def client(self, user: str | None = None) -> FlaskClient:
        client = self.app.test_client()
        if user is not None:
            response = client.post(
                "/login", data={"name": user, "password": PASSWORD, "csrf_token": token(client)}
            )
            assert response.status_code == 302, response.text
        return client


@contextmanager
def served(web: WebProject) -> Iterator[str]:
    """The web app over loopback HTTP (threaded werkzeug), for a real browser; its base URL."""
    server = make_server("127.0.0.1", 0, web.app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token a page's forms carry."""
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None, page.text
    return match.group(1)


def submit(client: FlaskClient, path: str, data: dict[str, Any], page: str = "/") -> Any:
    return client.post(path, data={**data, "csrf_token": token(client, page)})

"""Shared fixtures: a project folder with config and content, databases, and the CLI."""

from __future__ import annotations

import os
import shutil
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from chatbot.cli import cli

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "CHATBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


BASE_CONFIG = """
timezone: America/New_York
database_url: {db}
content_dir: content
accounts:
  lfp: {{platform: x, handle: "@libraryfreedom", env_prefix: LFP}}
  masslib: {{platform: x, handle: "@masslib", env_prefix: MASSLIB}}
  nela: {{platform: dryrun, handle: "@nelib"}}
  ifc: {{platform: dryrun, handle: "@ifc", timezone: America/Chicago}}
  uk: {{platform: dryrun, handle: "@uklib", timezone: Europe/London}}
"""


class Project:
    """A temporary installation: config.yaml, content/ and a database."""

    def __init__(self, root: Path, db_url: str):
        self.root = root
        self.db_url = db_url
        self.config_path = write(root / "config.yaml", BASE_CONFIG.format(db=db_url))
        (root / "content" / "chats").mkdir(parents=True)
        (root / "content" / "campaigns").mkdir(parents=True)
        shutil.copytree(ROOT / "graphics", root / "graphics")

    def chat(self, name: str, text: str) -> Path:
        return write(self.root / "content" / "chats" / f"{name}.yaml", text)

    def campaign(self, name: str, text: str) -> Path:
        return write(self.root / "content" / "campaigns" / f"{name}.yaml", text)

    def vision(self, text: str) -> Path:
        return write(self.root / "content" / "vision.yaml", text)

    def config(self, text: str) -> Path:
        return write(self.config_path, text)

    def run(self, *args: str) -> Result:
        runner = CliRunner()
        return runner.invoke(
            cli, ["--config", str(self.config_path), *args], catch_exceptions=False
        )

    def load_config(self):  # type: ignore[no-untyped-def]
        from chatbot.config import load_config

        return load_config(str(self.config_path))


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            return True
    except Exception:
        return False


PG_AVAILABLE = _pg_available()
PG_SKIP_REASON = (
    f"PostgreSQL not reachable at {PG_ADMIN_URL}: start it (see .ci/run) to run the PostgreSQL "
    "half of the database tests"
)


@pytest.fixture
def graphics(tmp_path: Path) -> Path:
    """A copy of the shipped graphics folder (templates, brand kits, fonts) to change freely."""
    target = tmp_path / "graphics"
    shutil.copytree(ROOT / "graphics", target)
    return target


@pytest.fixture
def renderer(graphics: Path, tmp_path: Path) -> Any:
    """A card renderer over that copy, caching in a temporary folder."""
    from chatbot.cards.render import Renderer

    return Renderer(graphics, tmp_path / "cards")


@pytest.fixture
def server() -> Iterator[Any]:
    """The loopback X server, on a fake clock an hour before the chats start (engine tests)."""
    from tests.enginekit import fake_clock_server

    srv = fake_clock_server()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def _runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("runtime")
    path.chmod(0o700)
    return path


@pytest.fixture(autouse=True)
def _private_runtime_dir(_runtime_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers' sockets and the commands' kept config briefs (``chatbot.cli.brief``) go to a
    runtime directory of the test session's, not the user's (a test may set its own)."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(_runtime_dir))


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """Every test leaves os.environ as it found it (credentials a test kit sets included)."""
    saved = dict(os.environ)
    yield
    for name in set(os.environ) - set(saved):
        del os.environ[name]
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its lowest cost: the tests check who may sign in, not the hash's strength
    (``test_passwords_are_hashed_with_argon2id_at_the_recommended_cost`` checks that)."""
    from argon2 import PasswordHasher

    from chatbot.web import users

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(users, "hasher", lambda: cheap)


def _pg_admin(statement: str, params: tuple[object, ...] = ()) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(statement, params)  # type: ignore[arg-type]


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (migration tests need one)."""
    if not PG_AVAILABLE:
        pytest.skip(PG_SKIP_REASON)
    name = f"chatbot_test_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _shared_pg() -> Iterator[str]:
    """One migrated PostgreSQL database for the session; each test gets it emptied. Creating,
    migrating and dropping a database per test cost about half a second each."""
    if not PG_AVAILABLE:
        pytest.skip(PG_SKIP_REASON)
    from chatbot.db.session import open_database

    name = f"chatbot_test_shared_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    open_database(url).dispose()
    try:
        yield url
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(_shared_pg: str) -> str:
    """The session's PostgreSQL database, empty: every other connection to it (a worker or an
    app a previous test left open) is ended, and every table but Alembic's is truncated."""
    import psycopg

    from chatbot.db.models import Base

    name = _shared_pg.rsplit("/", 1)[1]
    _pg_admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    )
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with psycopg.connect(_shared_pg.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")  # type: ignore[arg-type]
    return _shared_pg


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test instead of migrating again."""
    from chatbot.db.session import open_database

    path = tmp_path_factory.mktemp("template") / "migrated.db"
    open_database(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, _sqlite_template: Path) -> str:
    if request.param == "sqlite":
        shutil.copy(_sqlite_template, tmp_path / "queue.db")
        return f"sqlite:///{tmp_path / 'queue.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema yet, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return str(request.getfixturevalue("fresh_pg_url"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("CHATBOT_CONFIG", raising=False)
    return Project(tmp_path / "proj", f"sqlite:///{tmp_path / 'proj' / 'var' / 'q.db'}")


@pytest.fixture
def db_project(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The same project on SQLite and on PostgreSQL."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return Project(tmp_path / "proj", db_url)


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _sqlite_template: Path) -> Project:
    """The shipped example config and content, in a temporary folder."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    root = tmp_path / "example"
    (root / "var").mkdir(parents=True)
    shutil.copy(_sqlite_template, root / "var" / "chatbot.db")
    shutil.copy(ROOT / "config.example.yaml", root / "config.yaml")
    shutil.copytree(ROOT / "content", root / "content")
    if (ROOT / "graphics").is_dir():
        shutil.copytree(ROOT / "graphics", root / "graphics")
    proj = Project.__new__(Project)
    proj.root = root
    proj.db_url = "sqlite:///var/chatbot.db"
    proj.config_path = root / "config.yaml"
    return proj


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the session (a launch costs a second); each test opens its own
    contexts, so cookies and storage never leak between tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as play:
        chromium = play.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()

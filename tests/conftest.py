"""Shared fixtures: a project folder with config and content, databases, and the CLI."""

from __future__ import annotations

import os
import shutil
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

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
def pg_url() -> Iterator[str]:
    """A fresh schema-isolated PostgreSQL database for one test."""
    if not PG_AVAILABLE:
        pytest.skip(PG_SKIP_REASON)
    import psycopg

    name = f"chatbot_test_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    return str(request.getfixturevalue("pg_url"))


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
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The shipped example config and content, in a temporary folder."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    root = tmp_path / "example"
    root.mkdir()
    shutil.copy(ROOT / "config.example.yaml", root / "config.yaml")
    shutil.copytree(ROOT / "content", root / "content")
    if (ROOT / "graphics").is_dir():
        shutil.copytree(ROOT / "graphics", root / "graphics")
    proj = Project.__new__(Project)
    proj.root = root
    proj.db_url = "sqlite:///var/chatbot.db"
    proj.config_path = root / "config.yaml"
    return proj

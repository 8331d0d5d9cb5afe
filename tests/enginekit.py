"""Helpers for engine tests: a project wired to the loopback X server, approved and applied."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from chatbot.config import load_config
from chatbot.connect.publishers import build_publishers
from chatbot.content.load import load_content
from chatbot.db import Post, open_database
from chatbot.db.session import Database
from chatbot.engine.clock import FakeClock
from chatbot.engine.dispatcher import Dispatcher
from chatbot.engine.notify import Notifier
from chatbot.queue.apply import apply_plan
from chatbot.queue.review import approve
from tests.conftest import ROOT, write
from tests.xserver import XServer

T0 = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)

CONFIG = """
timezone: UTC
database_url: {db}
publisher: live
accounts:
  lfp: {{platform: x, handle: "@libraryfreedom", env_prefix: LFP{budget}}}
  masslib: {{platform: x, handle: "@masslib", env_prefix: MASSLIB}}
  nela: {{platform: x, handle: "@nelib", env_prefix: NELA}}
platforms:
  x:
    api_base_url: {url}
    request_timeout: {timeout}
lateness: {{chat: 2m, campaign: 1h, repost: 30m}}
worker:
  lease: {lease}
  refresh: 1s
  reconcile_delay: {reconcile_delay}
  reconcile_attempts: 3
  concurrency: {concurrency}
  retry_delay: 1m
  stop_timeout: {stop_timeout}
"""


CREDENTIAL_PREFIXES = ("LFP", "MASSLIB", "NELA")

# The fr-chat script the engine, live, attention and amplification tests share.
FR_QUESTIONS = (
    "What does face surveillance mean for patrons?",
    "Who carries the risk?",
    "What would a ban look like?",
    "What will you do this month?",
)
MASSLIB_AFTER_2M = "  - account: masslib\n    after: 2m\n"
NELA_SKIPS_Q2 = "  - account: nela\n    after: 3m\n    skip: [q2]\n"


def fr_chat(*questions: str, amplify: str = MASSLIB_AFTER_2M, extra: str = "") -> str:
    """fr-chat: host lfp, #LFPchat, 2026-12-03 20:00 (the config's zone), a question every
    10 minutes (the first two of FR_QUESTIONS unless given), amplified as ``amplify`` says;
    ``extra``: more top-level keys (``thread: true``)."""
    lines = "\n".join(f"  - text: {q}" for q in questions or FR_QUESTIONS[:2])
    return (
        'id: fr-chat\nhashtag: "#LFPchat"\nhost: lfp\nstarts_at: 2026-12-03 20:00\n'
        f"interval: 10m\n{extra}questions:\n{lines}\namplify:\n{amplify}"
    )


def fake_clock_server() -> XServer:
    """A loopback X server whose clock is a FakeClock (``server.clock``) an hour before T0."""
    clock = FakeClock(T0 - timedelta(hours=1))
    srv = XServer(now=clock.now).start()
    srv.clock = clock  # type: ignore[attr-defined]
    return srv


def clear_credentials(monkeypatch: object) -> None:
    """No credentials from the developer's environment leak into a test."""
    for prefix in CREDENTIAL_PREFIXES:
        for name in ("API_KEY", "API_SECRET", "ACCESS_TOKEN", "ACCESS_SECRET"):
            monkeypatch.delenv(f"{prefix}_{name}", raising=False)  # type: ignore[attr-defined]


def make_engine(
    tmp_path: Path, server: XServer, db_url: str, monkeypatch: object, chat: str
) -> Engine:
    """An engine on the fake-clock X server with ``chat`` applied and approved an hour before
    it starts."""
    clear_credentials(monkeypatch)
    eng = Engine(tmp_path, db_url, server, server.clock)  # type: ignore[attr-defined]
    eng.content("chats", "fr", chat)
    eng.clock.set(T0 - timedelta(hours=1))
    eng.apply_and_approve("fr-chat")
    return eng


class RecordingNotifier(Notifier):
    """A notifier that also keeps what it said, for assertions."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []

    def __call__(self, title: str, body: str, **fields: object) -> None:
        super().__call__(title, body, **fields)
        self.sent.append((title, body))


class Engine:
    """A configured installation plus a dispatcher driven by a fake clock."""

    def __init__(
        self,
        root: Path,
        db_url: str,
        server: XServer,
        clock: FakeClock,
        budget: float | None = None,
        timeout: float = 2.0,
        lease: str = "2m",
        concurrency: int = 8,
        reconcile_delay: str = "15s",
        stop_timeout: str = "10s",
    ):
        """``reconcile_delay``: the fake clock makes 15 s free; a real-time test (a worker
        process) passes a short one instead of waiting."""
        self.root = root
        self.server = server
        self.clock = clock
        self.users = {
            name: server.add_user(name) for name in ("libraryfreedom", "masslib", "nelib")
        }
        for prefix, name in (("LFP", "libraryfreedom"), ("MASSLIB", "masslib"), ("NELA", "nelib")):
            os.environ.update(server.env_for(prefix, self.users[name]))
        budget_text = f", monthly_budget_usd: {budget}" if budget is not None else ""
        self.config_path = write(
            root / "config.yaml",
            CONFIG.format(
                db=db_url,
                url=server.url,
                budget=budget_text,
                timeout=timeout,
                lease=lease,
                concurrency=concurrency,
                reconcile_delay=reconcile_delay,
                stop_timeout=stop_timeout,
            ),
        )
        (root / "content" / "chats").mkdir(parents=True, exist_ok=True)
        (root / "content" / "campaigns").mkdir(parents=True, exist_ok=True)
        if not (root / "graphics").exists():
            shutil.copytree(ROOT / "graphics", root / "graphics")
        self.notifier = RecordingNotifier()
        self._db: Database | None = None

    @property
    def config(self):  # type: ignore[no-untyped-def]
        return load_config(str(self.config_path))

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = open_database(self.config.database_url)
        return self._db

    def content(self, kind: str, name: str, text: str) -> None:
        write(self.root / "content" / kind / f"{name}.yaml", text)

    def apply_and_approve(self, *items: str) -> None:
        config = self.config
        with self.db.write() as session:
            apply_plan(session, load_content(config), config, self.clock.now(), "maty")
        for item in items:
            with self.db.write() as session:
                approve(session, item, "alison", "ok", self.clock.now())

    def dispatcher(
        self,
        executor: Executor | None = None,
        on_sent: Callable[[], None] | None = None,
        wake_when_drained: bool = True,
    ) -> Dispatcher:
        """The engine's dispatcher; with ``executor``, sends run in its threads as in a worker."""
        config = self.config
        return Dispatcher(
            self.db,
            config,
            build_publishers(config, self.clock, None),
            self.clock,
            self.notifier,
            executor,
            on_sent=on_sent,
            wake_when_drained=wake_when_drained,
        )

    def post(self, key: str) -> Post:
        with self.db.read() as session:
            return session.scalars(select(Post).where(Post.key == key)).one()

    def states(self) -> dict[str, str]:
        with self.db.read() as session:
            return {p.key: p.state for p in session.scalars(select(Post))}

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()

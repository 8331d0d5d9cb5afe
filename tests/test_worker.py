"""The worker as a real process: refusing to start, SIGTERM, SIGKILL and restart, several
workers sharing one PostgreSQL database. Time here is real (separate processes), so every wait
polls a condition with a deadline instead of sleeping a fixed time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from chatbot.cli import cli
from chatbot.db.models import PostState
from tests.enginekit import Engine
from tests.xserver import XServer


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def server() -> Iterator[XServer]:
    srv = XServer().start()
    yield srv
    srv.stop()


def campaign(count: int, accounts: str = "[lfp, masslib, nela]", at: datetime | None = None) -> str:
    when = (at or datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    posts = "\n".join(
        f"  - {{text: 'Burst post number {i} #BanFaceSurveillance', at: '{when}'}}"
        for i in range(count)
    )
    return f"id: burst\naccounts: {accounts}\nposts:\n{posts}\n"


def make_engine(
    tmp_path: Path,
    server: XServer,
    db_url: str,
    lease: str = "2m",
    concurrency: int = 8,
    stop_timeout: str = "10s",
) -> Engine:
    from chatbot.engine.clock import SystemClock

    return Engine(  # type: ignore[arg-type]
        tmp_path,
        db_url,
        server,
        SystemClock(),
        lease=lease,
        concurrency=concurrency,
        reconcile_delay="200ms",
        stop_timeout=stop_timeout,
    )


def start_worker(engine: Engine, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "chatbot", "--config", str(engine.config_path), "run", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_live_worker_refuses_to_start_without_credentials(
    tmp_path: Path, server: XServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(tmp_path, server, f"sqlite:///{tmp_path / 'q.db'}")
    monkeypatch.delenv("MASSLIB_ACCESS_SECRET")
    result = CliRunner().invoke(cli, ["--config", str(engine.config_path), "run"])
    assert result.exit_code == 1
    assert (
        "account 'masslib' (platform x) has no credentials: set MASSLIB_ACCESS_SECRET"
        in result.output
    )
    assert "Traceback" not in result.output


def test_sigterm_finishes_in_flight_requests_and_logs_no_secret(
    tmp_path: Path, server: XServer
) -> None:
    engine = make_engine(tmp_path, server, f"sqlite:///{tmp_path / 'q.db'}")
    engine.content("campaigns", "burst", campaign(3, "[lfp]"))
    engine.apply_and_approve("burst")
    server.create_delay = 1.0
    worker = start_worker(engine)
    assert server.creating.wait(30), "no create request reached the server"
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    states = Counter(engine.states().values())
    assert states[PostState.SENDING] == 0, "no claim left behind"
    assert states[PostState.POSTED] == len(server.posts_by("libraryfreedom")) >= 1
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "worker.stopped"
    assert any(e["event"] == "post.posted" and e["account"] == "lfp" for e in events)
    for secret in ("secret-libraryfreedom", "token-libraryfreedom", "test-consumer-secret"):
        assert secret not in err and secret not in out
    engine.close()


def stop(worker: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[float, str]:
    """Send ``sig``; return how long the worker took to exit, and its log."""
    sent = time.monotonic()
    worker.send_signal(sig)
    _, err = worker.communicate(timeout=60)
    return time.monotonic() - sent, err


def test_a_stop_signal_under_load_exits_within_stop_timeout_and_leaves_no_claim(
    tmp_path: Path, server: XServer, db_url: str
) -> None:
    """SIGTERM, then SIGINT, under a burst over three accounts: the worker stops claiming, lets the sends
    under way finish, gives back what it claimed but never sent, and exits within
    worker.stop_timeout; a restart then sends the rest, each post exactly once."""
    engine = make_engine(tmp_path, server, db_url, concurrency=8, stop_timeout="3s")
    engine.content("campaigns", "burst", campaign(150))
    engine.apply_and_approve("burst")
    server.create_delay = 0.02
    for round_no, sig in ((1, signal.SIGTERM), (2, signal.SIGINT)):
        before = len(server.tweets)
        worker = start_worker(engine)
        wait_for(lambda b=before: len(server.tweets) >= b + 20, what="sends under way")
        took, err = stop(worker, sig)
        assert worker.returncode == 0, err
        assert took < 3 + 2, f"round {round_no}: took {took:.1f}s to stop"
        states = Counter(engine.states().values())
        assert states[PostState.SENDING] == 0, f"round {round_no}: a claim was left behind"
        assert states[PostState.POSTED] == len(server.tweets)
        assert states[PostState.QUEUED] > 0, "the stop came mid-burst"
        events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert events[-1]["event"] == "worker.stopped" and events[-1]["clean"] is True
    server.create_delay = 0.0
    rest = start_worker(engine, "--until-idle")
    _, err = rest.communicate(timeout=120)
    assert rest.returncode == 0, err
    texts = Counter(t.text for t in server.tweets.values())
    assert len(texts) == 150 and set(texts.values()) == {1}
    assert set(engine.states().values()) == {PostState.POSTED}
    engine.close()


def test_a_send_hanging_past_stop_timeout_is_recorded_unknown_and_the_worker_exits(
    tmp_path: Path, server: XServer, db_url: str
) -> None:
    """X holds the request longer than the stop timeout (its request timeout is longer): the
    worker does not wait for it; the post may exist, so it is recorded as unknown (settled from
    the timeline at the next start), never left in sending and never resent."""
    engine = make_engine(tmp_path, server, db_url, concurrency=2, stop_timeout="1s")
    engine.content("campaigns", "burst", campaign(4, "[lfp]"))
    engine.apply_and_approve("burst")
    server.create_delay = 20.0
    worker = start_worker(engine)
    assert server.creating.wait(30), "no create request reached the server"
    took, err = stop(worker)
    assert worker.returncode == 0, err
    assert took < 1 + 2, f"took {took:.1f}s to stop"
    states = Counter(engine.states().values())
    assert states[PostState.SENDING] == 0
    assert states[PostState.UNKNOWN] >= 1 and states[PostState.QUEUED] >= 2
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "worker.stopped" and events[-1]["clean"] is False
    assert events[-1]["cut_off"]
    engine.close()


def test_sigkill_mid_run_then_restart_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, server: XServer
) -> None:
    # One send at a time (0.4 s each), so the kill lands with posts still unsent.
    engine = make_engine(
        tmp_path, server, f"sqlite:///{tmp_path / 'q.db'}", lease="1s", concurrency=1
    )
    engine.content("campaigns", "burst", campaign(6, "[lfp, masslib]"))
    engine.apply_and_approve("burst")
    server.create_delay = 0.4
    worker = start_worker(engine)
    wait_for(lambda: len(server.tweets) >= 2, what="two posts created")
    worker.kill()
    worker.wait(timeout=10)
    states = engine.states()
    assert PostState.SENDING in states.values() or PostState.QUEUED in states.values()
    server.create_delay = 0.0
    restarted = start_worker(engine, "--until-idle")
    _, err = restarted.communicate(timeout=60)
    assert restarted.returncode == 0, err
    texts = Counter(t.text for t in server.tweets.values())
    assert set(texts.values()) == {1}, f"never sent twice: {texts}"
    # Each post went out exactly once, except possibly the one whose request the kill cut
    # off: if the server never created it, the timeline cannot settle it, so it is held for a
    # person as unknown, never resent blindly.
    posts = {key: engine.post(key) for key in engine.states()}
    posted = [p for p in posts.values() if p.state == PostState.POSTED]
    assert {p.text for p in posted} == set(texts)
    others = [p for p in posts.values() if p.state != PostState.POSTED]
    assert len(others) <= 1 and all(p.state == PostState.UNKNOWN and p.held for p in others)
    assert len(posted) + len(others) == 6
    engine.close()


@pytest.mark.parametrize("workers", [2, 4])
def test_several_workers_on_postgresql_send_each_post_once(
    tmp_path: Path, server: XServer, pg_url: str, workers: int
) -> None:
    engine = make_engine(tmp_path, server, pg_url)
    engine.content("campaigns", "burst", campaign(60))
    engine.apply_and_approve("burst")
    server.create_delay = 0.01
    procs = [start_worker(engine, "--until-idle") for _ in range(workers)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    texts = Counter(t.text for t in server.tweets.values())
    assert len(texts) == 60 and set(texts.values()) == {1}
    assert set(engine.states().values()) == {PostState.POSTED}
    engine.close()


def test_content_approved_while_running_is_picked_up_within_seconds(
    tmp_path: Path, server: XServer
) -> None:
    engine = make_engine(tmp_path, server, f"sqlite:///{tmp_path / 'q.db'}")
    assert engine.states() == {}  # creates the schema before the worker starts
    worker = start_worker(engine)
    try:
        engine.content(
            "campaigns", "burst", campaign(1, "[nela]", at=datetime.now(UTC) + timedelta(seconds=1))
        )
        engine.apply_and_approve("burst")
        approved_at = time.monotonic()
        wait_for(lambda: len(server.posts_by("nelib")) == 1, timeout=10, what="the new post")
        assert time.monotonic() - approved_at < 5
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    assert worker.returncode == 0
    engine.close()


def test_a_worker_caps_glibcs_malloc_arenas_unless_a_person_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two arenas for the send threads (peak RSS of a 10,000-post burst 114-116 -> 105-107
    MiB); a MALLOC_ARENA_MAX in the environment is left to glibc, and so is another libc."""
    import platform

    from chatbot.engine.memory import limit_malloc_arenas

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    if platform.libc_ver()[0] != "glibc":
        assert limit_malloc_arenas() is False
        pytest.skip("not glibc: nothing to cap")
    assert limit_malloc_arenas() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


def test_the_worker_and_the_web_app_keep_small_sqlite_caches(
    tmp_path: Path, server: XServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that runs for good keeps its pooled connections, and their caches, for months:
    small ones (a 10,000-post burst's RSS from post 1,000 to the last: +9 MiB with SQLite's
    defaults, +2 with these). A bulk command (``apply``) keeps SQLite's defaults."""
    from sqlalchemy import event, text

    from chatbot.config import Config
    from chatbot.db.direct import LONG_RUN_PAGE_CACHE_KIB, LONG_RUN_STATEMENTS
    from chatbot.db.session import Database
    from chatbot.web import create_app

    engine = make_engine(tmp_path, server, f"sqlite:///{tmp_path / 'q.db'}")
    opened: list[Database] = []
    open_database = Config.open_database

    def recording(self: Config, migrate: bool = True, long_running: bool = False) -> Database:
        db = open_database(self, migrate, long_running)
        opened.append(db)
        return db

    monkeypatch.setattr(Config, "open_database", recording)

    def caches(db: Database) -> tuple[int, object]:
        """(PRAGMA cache_size, the statement cache the sqlite3 module was given)."""
        given: dict[str, object] = {}

        @event.listens_for(db.engine, "do_connect")
        def seen(_dialect: object, _record: object, _args: object, kwargs: dict) -> None:  # type: ignore[type-arg]
            given.update(kwargs)

        db.engine.dispose()  # the next session makes a new connection
        with db.read() as session:
            pages = session.execute(text("PRAGMA cache_size")).scalar_one()
        return pages, given.get("cached_statements")

    applied = CliRunner().invoke(cli, ["--config", str(engine.config_path), "apply"])
    assert applied.exit_code == 0, applied.output
    ran = CliRunner().invoke(cli, ["--config", str(engine.config_path), "run", "--until-idle"])
    assert ran.exit_code == 0, ran.output
    web = create_app(config=engine.config, secret_key="s" * 32)
    assert [db.long_running for db in opened] == [False, True, True]
    assert web.extensions["chatbot"]["db"] is opened[2]
    assert caches(opened[0]) == (-2000, None)  # SQLite's and the sqlite3 module's defaults
    for db in opened[1:]:
        assert caches(db) == (-LONG_RUN_PAGE_CACHE_KIB, LONG_RUN_STATEMENTS)
    for db in opened:
        db.dispose()

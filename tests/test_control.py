"""Live controls run by the running worker over its control socket (``chatbot.cli.remote`` and
``chatbot.cli.control``): the same command, the same transaction and the same output as in
the CLI's own process; never run twice; never through a socket someone else could own."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from chatbot.cli import cli, remote
from chatbot.cli.control import ControlServer
from chatbot.db.models import AuditEntry, Chat
from tests.enginekit import FR_QUESTIONS, Engine, fr_chat, make_engine
from tests.xserver import XServer


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private runtime directory with a short path (a Unix socket's path is at most 107
    bytes; pytest's own temporary paths are longer)."""
    directory = Path(tempfile.mkdtemp(prefix="cb-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory))
    monkeypatch.setenv("CHATBOT_USER", "host-ana")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def engine(
    tmp_path: Path, server: XServer, monkeypatch: pytest.MonkeyPatch, runtime: Path
) -> Iterator[Engine]:
    eng = make_engine(
        tmp_path, server, f"sqlite:///{tmp_path / 'q.db'}", monkeypatch, fr_chat(*FR_QUESTIONS)
    )
    yield eng
    eng.close()


@pytest.fixture
def control(engine: Engine) -> Iterator[tuple[ControlServer, list[int]]]:
    """A started control server on the engine's config and database, and a record of its
    wakes (the worker's look at the queue after each command)."""
    wakes: list[int] = []
    server = ControlServer(engine.config, engine.db, engine.clock.now, lambda: wakes.append(1))
    assert server.start()
    yield server, wakes
    server.close()


def forward(engine: Engine, *argv: str) -> tuple[int | None, str, str]:
    out, err = StringIO(), StringIO()
    code = remote.forward(["--config", str(engine.config_path), *argv], out, err)
    return code, out.getvalue(), err.getvalue()


def chat_row(engine: Engine) -> Chat:
    with engine.db.read() as session:
        chat = session.scalars(select(Chat).where(Chat.key == "fr-chat")).one()
        session.expunge(chat)
        return chat


def actions(engine: Engine) -> list[tuple[str, str]]:
    with engine.db.read() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(a.actor, a.action) for a in rows if a.action.startswith("chat.")]


def test_a_control_is_run_by_the_worker_as_the_person_who_asked(
    engine: Engine, control: tuple[ControlServer, list[int]]
) -> None:
    server, wakes = control
    code, out, err = forward(engine, "chat", "pause", "fr-chat")
    assert (code, err) == (0, "")
    assert out == "paused fr-chat: nothing more is posted until you resume it\n"
    assert chat_row(engine).paused_at is not None
    assert actions(engine) == [("host-ana", "chat.pause")]
    assert (server.served, len(wakes)) == (1, 1), "the worker looks at the queue at once"
    code, out, _ = forward(engine, "chat", "resume", "fr-chat", "--by", "alison")
    assert code == 0 and out.startswith("resumed fr-chat")
    assert actions(engine)[-1] == ("alison", "chat.resume")
    assert chat_row(engine).paused_at is None


def test_what_the_worker_prints_is_what_the_command_prints_itself(
    engine: Engine, control: tuple[ControlServer, list[int]]
) -> None:
    direct = CliRunner().invoke(cli, ["--config", str(engine.config_path), "status"])
    code, out, _ = forward(engine, "status")
    assert code == direct.exit_code == 0
    assert out == direct.stdout
    direct = CliRunner().invoke(
        cli, ["--config", str(engine.config_path), "chat", "status", "fr-chat"]
    )
    code, out, _ = forward(engine, "chat", "status", "fr-chat")
    assert out == direct.stdout and "Q1" in out


def test_mistakes_come_back_as_the_command_would_say_them_and_change_nothing(
    engine: Engine, control: tuple[ControlServer, list[int]]
) -> None:
    code, out, err = forward(engine, "chat", "pause", "no-such-chat")
    assert (code, out) == (1, "")
    assert err.startswith("error: no chat called 'no-such-chat' in the queue")
    code, _, err = forward(engine, "chat", "delay", "fr-chat")
    assert code == 2 and "Missing argument 'DURATION'" in err
    code, _, err = forward(engine, "chat", "delay", "fr-chat", "soon")
    assert code == 1 and err.startswith("error: DURATION:")
    assert actions(engine) == []


def test_without_a_worker_the_command_runs_in_its_own_process(engine: Engine) -> None:
    assert forward(engine, "chat", "pause", "fr-chat") == (None, "", "")
    assert chat_row(engine).paused_at is None, "nothing ran"


def test_only_live_controls_and_status_are_forwarded(
    engine: Engine, control: tuple[ControlServer, list[int]]
) -> None:
    server, _ = control
    for argv in (["apply"], ["run"], ["chat", "pause", "fr-chat", "--help"], ["chat", "follow"]):
        assert forward(engine, *argv)[0] is None, argv
    assert server.served == 0
    # Asked directly, the worker refuses anything else, and a request for another config.
    for request in (
        {"argv": ["apply"]},
        {"argv": ["chat", "pause", "fr-chat"], "fingerprint": "another"},
        {"argv": ["chat", "pause", "fr-chat"], "protocol": 99},
    ):
        reply = ask(server.path, {**valid_request(engine, []), **request})
        assert reply["code"] == 1 and "does not run this" in reply["stderr"]
    assert chat_row(engine).paused_at is None and server.served == 0


def valid_request(engine: Engine, argv: list[str]) -> dict[str, object]:
    return {
        "protocol": remote.PROTOCOL,
        "argv": argv,
        "actor": "x",
        "fingerprint": remote.fingerprint(engine.config.path),
    }


def ask(path: Path, request: dict[str, object]) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        remote.write_message(sock, request)
        return remote.read_message(sock)


def test_a_command_the_worker_took_but_did_not_answer_is_not_run_again(
    engine: Engine, runtime: Path
) -> None:
    """``chat skip`` or ``chat delay`` run twice would do it twice: the host is told to look."""
    path = remote.socket_path(engine.config.path)
    path.parent.mkdir(mode=0o700)
    taken: list[dict[str, object]] = []
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        listener.listen(1)

        def take_and_hang_up() -> None:
            conn, _ = listener.accept()
            with conn:
                taken.append(remote.read_message(conn))

        thread = threading.Thread(target=take_and_hang_up)
        thread.start()
        code, out, err = forward(engine, "chat", "delay", "fr-chat", "5m")
        thread.join(10)
    assert taken and taken[0]["argv"] == ["chat", "delay", "fr-chat", "5m"]
    assert code == 1 and out == ""
    assert "did not answer" in err and "check `chatbot chat status`" in err
    assert actions(engine) == [], "not run a second time here"


def test_a_socket_directory_others_can_enter_is_not_used(
    engine: Engine, runtime: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = remote.socket_path(engine.config.path).parent
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    server = ControlServer(engine.config, engine.db, engine.clock.now)
    assert not server.start()
    (record,) = [r for r in caplog.records if r.name == "chatbot.control"]
    assert "is not private to this user" in record.reason
    assert not remote.socket_path(engine.config.path).exists()
    os.chmod(directory, 0o700)
    assert forward(engine, "chat", "pause", "fr-chat")[0] is None, "no worker: runs itself"


def test_a_socket_left_by_a_killed_worker_is_replaced_and_a_live_one_is_left_alone(
    engine: Engine, runtime: Path
) -> None:
    path = remote.socket_path(engine.config.path)
    path.parent.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays: as after SIGKILL
    assert forward(engine, "chat", "pause", "fr-chat")[0] is None
    first = ControlServer(engine.config, engine.db, engine.clock.now)
    assert first.start()
    second = ControlServer(engine.config, engine.db, engine.clock.now)
    assert not second.start(), "a second worker of the same database leaves it to the first"
    second.close()
    assert forward(engine, "chat", "pause", "fr-chat")[0] == 0
    first.close()
    assert not path.exists()


def test_a_different_database_reaches_a_different_worker(
    engine: Engine, control: tuple[ControlServer, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:////elsewhere.db")
    assert remote.socket_path(engine.config.path) != control[0].path
    assert forward(engine, "chat", "pause", "fr-chat")[0] is None


def test_a_host_command_reaches_a_running_worker_process(engine: Engine, runtime: Path) -> None:
    """End to end: `chatbot run` and `chatbot chat ...` as two processes, as a host runs them;
    the worker serves the control, and removes its socket when it stops."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "chatbot", "--config", str(engine.config_path)]
    worker = subprocess.Popen(
        [*argv, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    path = remote.socket_path(engine.config.path)
    try:
        deadline = time.monotonic() + 60
        while not path.exists() and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting for another process to start, not for the clock
        assert path.exists(), "the worker never listened"
        done = subprocess.run(
            [*argv, "chat", "pause", "fr-chat"], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("paused fr-chat")
    finally:
        worker.send_signal(signal.SIGTERM)
        _, log = worker.communicate(timeout=60)
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    served = [e for e in events if e["event"] == "control.served"]
    assert [(e["command"], e["code"]) for e in served] == [("chat pause", 0)]
    assert actions(engine) == [("host-ana", "chat.pause")]
    assert not path.exists()


def test_a_socket_path_too_long_for_unix_sockets_means_commands_run_themselves(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A Unix socket's path is at most 107 bytes: a deep runtime directory is said once in
    the worker's log, and each command runs in its own process."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    server = ControlServer(engine.config, engine.db, engine.clock.now)
    assert not server.start()
    server.close()
    assert forward(engine, "chat", "pause", "fr-chat")[0] is None
    assert chat_row(engine).paused_at is None

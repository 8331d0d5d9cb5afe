"""The worker's side of ``chatbot.cli.remote``, handed to the worker by ``chatbot run``: it
runs a host's live controls and the status commands for the CLI, in the worker's process,
where everything they need is loaded.

One command at a time, in one thread: a control is a short transaction, and running them in
order is what a host expects of two quick ``chat skip`` in a row. A command runs exactly as it
would in its own process (the same click command, the same transaction), with the asking
process's actor and terminal width, and its output is sent back. After a command the worker
looks at the queue at once, so a ``chat now`` goes out without waiting for the next poll.

Trust: the socket sits in a directory only this user can enter (created 0700, refused if it is
anyone else's or open to others), and a peer of another user is refused as well (Linux tells
the peer's uid). Only the commands in ``FORWARDED`` are run.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from chatbot.cli import remote
from chatbot.config import Config
from chatbot.db.session import Database

log = logging.getLogger("chatbot.control")
READ_TIMEOUT = 2.0  # seconds a connected client has to send its request
ACCEPT_POLL = 0.2  # seconds between looks at the stop flag


class ControlServer:
    def __init__(
        self,
        config: Config,
        db: Database,
        now: Callable[[], datetime],
        on_done: Callable[[], None] = lambda: None,
    ):
        self.config = config
        self.db = db
        self.now = now
        self.on_done = on_done
        self.path = remote.socket_path(config.path)
        self._fingerprint = remote.fingerprint(config.path)
        self._listener: socket.socket | None = None
        self._inode: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.served = 0

    def start(self) -> bool:
        """Listen, unless the socket directory is unsafe or another worker of the same config
        and database already serves it (then the CLI reaches that one). Returns whether it
        listens; not listening only makes the CLI run commands itself."""
        directory = self.path.parent
        try:
            directory.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            return self._not_listening(f"cannot create {directory}: {exc.strerror}")
        if not remote.is_private(directory):
            return self._not_listening(
                f"{directory} is not private to this user (it must be owned by it, mode 0700)"
            )
        if self.path.exists() and self._answers(self.path):
            return self._not_listening("another worker of this config and database serves it")
        self.path.unlink(missing_ok=True)  # left by a worker that was killed
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(self.path))
            os.chmod(self.path, 0o600)
            listener.listen(8)
        except OSError as exc:
            listener.close()
            return self._not_listening(f"cannot listen on {self.path}: {exc.strerror}")
        listener.settimeout(ACCEPT_POLL)
        self._listener = listener
        self._inode = os.stat(self.path).st_ino
        # Loaded now, not by the host's first command in the middle of a chat.
        import chatbot.cli.chat_cmds
        import chatbot.cli.ops_cmds  # noqa: F401

        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)
        self._thread.start()
        log.info("serving live controls", extra={"event": "control.listening"})
        return True

    def _not_listening(self, why: str) -> bool:
        log.warning(
            "live controls run in each command's own process",
            extra={"event": "control.not_listening", "reason": why},
        )
        return False

    @staticmethod
    def _answers(path: Path) -> bool:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(remote.CONNECT_TIMEOUT)
        try:
            probe.connect(str(path))
        except OSError:
            return False
        finally:
            probe.close()
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking commands; a command under way (one short transaction) may finish
        within ``timeout`` seconds."""
        self._stop.set()
        if self._listener is not None:
            # Wakes the accept() under way at once (Linux), instead of at its next poll.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        if self._listener is not None:
            self._listener.close()
            try:  # only our own socket: a newer worker may have replaced a stale one
                if os.stat(self.path).st_ino == self._inode:
                    self.path.unlink()
            except OSError:
                pass
            self._listener = None

    def _serve(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                time.sleep(ACCEPT_POLL)
                continue
            with conn:
                self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(READ_TIMEOUT)
        if not _same_user(conn):
            log.warning("refused a peer of another user", extra={"event": "control.refused"})
            return
        try:
            request = remote.read_message(conn)
        except (OSError, ValueError):
            return  # cut short: nothing was run, and the CLI runs it itself
        reply = self.run(request)
        if reply.get("ran"):
            self.on_done()  # the worker looks at the queue while the answer goes back
        try:
            conn.settimeout(remote.REPLY_TIMEOUT)
            remote.write_message(conn, reply)
        except OSError:
            pass  # the CLI tells its user it may have been done

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one request; the reply holds the exit code and what the command printed."""
        argv = request.get("argv")
        command = (
            remote.command_of(argv)
            if isinstance(argv, list) and all(isinstance(arg, str) for arg in argv)
            else None
        )
        if (
            request.get("protocol") != remote.PROTOCOL
            or request.get("fingerprint") != self._fingerprint
            or command is None
        ):
            return {"code": 1, "stdout": "", "stderr": "error: the worker does not run this\n"}
        import click
        from rich.console import Console

        from chatbot.cli import cli
        from chatbot.cli.app import App

        width = request.get("width") if isinstance(request.get("width"), int) else None
        out, err = io.StringIO(), io.StringIO()

        def console(buffer: io.StringIO, tty: object) -> Console:
            return Console(
                file=buffer,
                width=width,
                force_terminal=bool(tty),
                color_system="standard" if tty else None,
                no_color=bool(request.get("no_color")),
                highlight=False,
                soft_wrap=True,
            )

        actor = request.get("actor")
        app = App(
            str(self.config.path),
            clock=self.now,
            config=self.config,
            db=self.db,
            console=console(out, request.get("stdout_tty")),
            err=console(err, request.get("stderr_tty")),
            actor=actor if isinstance(actor, str) else None,
        )
        started = time.perf_counter()
        try:
            result = cli.main(args=argv, prog_name="chatbot", standalone_mode=False, obj=app)
            code = result if isinstance(result, int) else 0
        except click.ClickException as exc:  # a usage mistake: as click prints it
            exc.show(file=err)
            code = exc.exit_code
        except click.Abort:
            err.write("Aborted!\n")
            code = 1
        except Exception as exc:  # a bug: the worker keeps running and the host is told
            log.exception("control command failed", extra={"event": "control.failed"})
            err.write(f"error: the worker failed running this command: {exc!r}\n")
            code = 1
        log.info(
            "control command",
            extra={
                "event": "control.served",
                "command": " ".join(command),
                "code": code,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        self.served += 1
        return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue(), "ran": True}


def _same_user(conn: socket.socket) -> bool:
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:  # not Linux: the directory's permissions are the guard
        return True
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, option, 12))
    return bool(uid == os.getuid())

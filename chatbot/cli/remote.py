"""A host's live control answered at once, by the worker that is already running.

A new process must load the settings and open the database itself: about a tenth of a second
on SQLite (``chatbot.db.direct``, ``chatbot.cli.brief``), about half a second on PostgreSQL
(SQLAlchemy's ORM and psycopg); a running ``chatbot run`` has all of it loaded and its
database open. So the worker listens on a Unix socket private to the user
who runs it (``worker.control_socket``), and the live controls and the status commands
(``FORWARDED``) are run inside it: the CLI sends its arguments and prints what the worker
answers. This module is the CLI's side and imports only the standard library, so that a
forwarded command starts in tens of milliseconds.

Which worker: the socket's name is a hash of the config file's path and ``$DATABASE_URL``
(after the ``.env`` beside the config), so a command reaches a worker only if it would have
used the same config and the same database itself.

When there is no such worker (none running, another machine, an unsafe socket directory) the
command runs in the CLI's own process as before. Once the request has been sent it is never
run a second time: a worker that does not answer may have done it, and ``chat skip`` or
``chat delay`` repeated would do it twice; the CLI says so instead.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import stat
import sys
from pathlib import Path
from typing import IO, Any

# The commands a worker runs for the CLI: the live controls and the read-only overviews. Nothing
# that loads content, writes the queue in bulk or runs for long.
FORWARDED: frozenset[tuple[str, ...]] = frozenset(
    {
        ("status",),
        ("chat", "status"),
        ("chat", "pause"),
        ("chat", "resume"),
        ("chat", "skip"),
        ("chat", "delay"),
        ("chat", "now"),
    }
)
PROTOCOL = 1
CONNECT_TIMEOUT = 1.0  # seconds: a worker that is up accepts at once
REPLY_TIMEOUT = 60.0  # seconds: a control waits at most for the database's lock
MAX_MESSAGE = 1 << 20  # bytes, either way: a status table, not a dump


def command_of(argv: list[str]) -> tuple[str, ...] | None:
    """The forwarded command ``argv`` (without global options) names, or None."""
    if any(arg in ("--help", "-h") for arg in argv):
        return None
    for length in (2, 1):
        if tuple(argv[:length]) in FORWARDED:
            return tuple(argv[:length])
    return None


def split_global(argv: list[str]) -> tuple[str | None, list[str]] | None:
    """``(--config value, the rest)`` when ``argv`` is a forwarded command, else None."""
    config: str | None = None
    rest = list(argv)
    if rest and rest[0] == "--config" and len(rest) > 1:
        config, rest = rest[1], rest[2:]
    elif rest and rest[0].startswith("--config="):
        config, rest = rest[0].split("=", 1)[1], rest[1:]
    if command_of(rest) is None:
        return None
    return config, rest


def socket_dir() -> Path:
    """Where workers' sockets live: the user's runtime directory, else a directory of the
    user's own under the temporary directory."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "chatbot"
    import tempfile  # a few milliseconds that a command finding XDG_RUNTIME_DIR need not spend

    return Path(tempfile.gettempdir()) / f"chatbot-{os.getuid()}"


def is_private(directory: Path) -> bool:
    """Only a directory that is ours alone is trusted: anyone who could create a socket in it
    could answer a host's commands, or receive them."""
    try:
        info = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and info.st_mode & 0o077 == 0


def fingerprint(config_path: Path) -> str:
    """Which config and database a command would use: the config file and $DATABASE_URL."""
    seen = f"{config_path}\0{os.environ.get('DATABASE_URL', '')}".encode()
    return hashlib.sha256(seen).hexdigest()[:24]


def socket_path(config_path: Path) -> Path:
    return socket_dir() / f"worker-{fingerprint(config_path)}.sock"


def actor() -> str:
    """Who is doing it, as a command run here would record it (``--by`` overrides it)."""
    try:
        return os.environ.get("CHATBOT_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _terminal(stream: IO[str]) -> tuple[bool, int | None]:
    try:
        tty = stream.isatty()
        width = os.get_terminal_size(stream.fileno()).columns if tty else None
    except (AttributeError, OSError, ValueError):
        tty, width = False, None
    if width is None and os.environ.get("COLUMNS", "").isdigit():
        width = int(os.environ["COLUMNS"])
    return tty, width


def read_message(sock: socket.socket) -> dict[str, Any]:
    """One JSON object ending in a newline; ValueError if it is cut short or too long."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("the connection closed before a whole message")
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n"):
            break
        if size > MAX_MESSAGE:
            raise ValueError("message too long")
    message = json.loads(b"".join(chunks))
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    return message


def write_message(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


def forward(
    argv: list[str], stdout: IO[str] | None = None, stderr: IO[str] | None = None
) -> int | None:
    """Run ``argv`` in the running worker and return its exit code; None when no worker can
    take it (the caller runs the command itself)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    split = split_global(argv)
    if split is None:
        return None
    from chatbot.configpath import find_config_path, load_dotenv_beside
    from chatbot.errors import UserError

    explicit, rest = split
    try:
        config_path = find_config_path(explicit)
        load_dotenv_beside(config_path)
    except UserError:
        return None  # the command itself says what is wrong with the config
    path = socket_path(config_path)
    if not is_private(path.parent):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect(str(path))
        except OSError:
            return None  # no worker listening (a socket left by one that was killed)
        out_tty, width = _terminal(stdout)
        err_tty, _ = _terminal(stderr)
        request = {
            "protocol": PROTOCOL,
            "argv": rest,
            "actor": actor(),
            "fingerprint": fingerprint(config_path),
            "width": width,
            "stdout_tty": out_tty,
            "stderr_tty": err_tty,
            "no_color": "NO_COLOR" in os.environ,
        }
        try:
            write_message(sock, request)
        except OSError:
            # Not all of it reached the worker, which runs only a whole request: nothing ran.
            return None
        sock.settimeout(REPLY_TIMEOUT)
        try:
            reply = read_message(sock)
            code = int(reply["code"])
            out, err = str(reply.get("stdout", "")), str(reply.get("stderr", ""))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            stderr.write(
                f"error: the running worker took `chatbot {' '.join(rest)}` but did not "
                f"answer ({exc}); it may have done it: check `chatbot chat status` or "
                "`chatbot status` before repeating it\n"
            )
            return 1
    finally:
        sock.close()
    stdout.write(out)
    stderr.write(err)
    stdout.flush()
    stderr.flush()
    return code

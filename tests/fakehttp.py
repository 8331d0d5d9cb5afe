"""What the loopback fake platform servers share: a threaded HTTP server, JSON answers, a
request log, and faults injected on demand (error answers, or a post created and then the
answer lost: a 503, a hang past the client's timeout, a dropped connection)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit


@dataclass
class Fault:
    """What to do to the next request whose method matches and whose path starts with ``path``.

    Error kinds (each server's own: 429, 401, ...) answer with that error and create nothing.
    503_after_create: create, then answer 503; hang_after_create: create, then answer only after
    ``delay`` seconds (past the client's timeout); drop_after_create: create, then close the
    connection without an answer.
    """

    method: str
    path: str
    kind: str
    reset_in: int = 60
    delay: float = 0.0


class FakeServer:
    """Subclasses define ``route(handler, method, path, query, body)``, or bring their own
    request handler class by overriding ``handler_class``."""

    def __init__(self, now: Callable[[], datetime] | None = None):
        self.now = now or (lambda: datetime.now(UTC))
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, int]] = []
        self.lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler_class())
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for the loop's next poll, 0.5 s by default.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def inject(self, method: str, path: str, kind: str, **kw: Any) -> None:
        with self.lock:
            self.faults.append(Fault(method, path, kind, **kw))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and path.startswith(fault.path):
                    self.faults.remove(fault)
                    return fault
        return None

    def requests_to(self, path: str) -> int:
        return sum(1 for _, p, _ in self.log if urlsplit(p).path.startswith(path))

    def route(self, h: Handler, method: str, path: str, query: str, body: bytes) -> None:
        raise NotImplementedError


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_ref: FakeServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_json(
        self,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json; charset=utf-8",
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer
        self.server_ref.log.append((self.command, self.path, status))

    def lose_answer(self, fault: Fault, answer: Callable[[], None]) -> None:
        """The request did its work; now the answer goes wrong as ``fault`` says."""
        if fault.kind == "503_after_create":
            self.send_json(503, {"error": "Service Unavailable"})
        elif fault.kind == "hang_after_create":
            time.sleep(fault.delay)
            answer()
        elif fault.kind == "drop_after_create":
            self.server_ref.log.append((self.command, self.path, 0))
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            answer()

    def _dispatch(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        self.server_ref.route(self, self.command, parts.path, parts.query, body)

    do_GET = _dispatch
    do_POST = _dispatch
    do_PUT = _dispatch
    do_DELETE = _dispatch


def _handler(server: FakeServer) -> type[Handler]:
    return type("BoundHandler", (Handler,), {"server_ref": server})


class Webhook(FakeServer):
    """A webhook that keeps every JSON body posted to it (Apprise's ``json://`` URLs)."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[dict[str, Any]] = []

    @property
    def apprise_url(self) -> str:
        return self.url.replace("http://", "json://") + "/hook"

    def route(self, h: Handler, method: str, path: str, query: str, body: bytes) -> None:
        with self.lock:
            self.received.append(json.loads(body))
        h.send_json(200, {})

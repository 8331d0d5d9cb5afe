"""Telling a person: an error-level log line always, and Apprise URLs when configured
(a webhook, email, Matrix, ...). Notification failures are logged, never raised: they must not
stop the worker from posting."""

from __future__ import annotations

import logging
from collections.abc import Sequence

log = logging.getLogger("chatbot.notify")


class Notifier:
    def __init__(self, urls: Sequence[str] = ()):
        self.urls = list(urls)
        self.sent: list[tuple[str, str]] = []

    def __call__(self, title: str, body: str, **fields: object) -> None:
        log.error(title, extra={"event": "attention", "detail": body, **fields})
        self.sent.append((title, body))
        if not self.urls:
            return
        try:
            import apprise

            sender = apprise.Apprise()
            for url in self.urls:
                sender.add(url)
            if not sender.notify(title=title, body=body):
                log.warning("notification not delivered", extra={"event": "notify.failed"})
        except Exception as exc:  # a broken notifier must not stop posting
            log.warning(
                "notification failed", extra={"event": "notify.failed", "error": type(exc).__name__}
            )

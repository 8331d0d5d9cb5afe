"""The HTTP session under tweepy: every request routed to the configured X host with a
timeout (a local X-compatible server in tests), and how to tell a refused connection (nothing
sent, safe to retry) from a dropped one (the post may exist). No tweepy here: only x.py uses it."""

from __future__ import annotations

from typing import Any

import requests

TWEEPY_HOST = "https://api.twitter.com"


class RoutedSession(requests.Session):
    """A session that sends tweepy's requests to another host, each with a timeout."""

    def __init__(self, base_url: str, timeout: float):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        text = url.decode() if isinstance(url, bytes) else url
        if text.startswith(TWEEPY_HOST):
            text = self.base_url + text[len(TWEEPY_HOST) :]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, text, *args, **kwargs)


def refused_before_sending(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return "ConnectionRefused" in text or "NewConnectionError" in text

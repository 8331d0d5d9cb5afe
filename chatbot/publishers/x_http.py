"""The HTTP session under tweepy: every request routed to the configured X host with a
timeout (a local X-compatible server in tests), and how to tell a refused connection (nothing
sent, safe to retry) from a dropped one (the post may exist). No tweepy here: only x.py uses it."""

from __future__ import annotations

import os
from typing import Any

import requests

TWEEPY_HOST = "https://api.twitter.com"


class RoutedSession(requests.Session):
    """A session that sends tweepy's requests to another host, each with a timeout."""

    def __init__(self, base_url: str, timeout: float):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # requests looks up proxies and the CA bundle in the environment at every request (a
        # scan of os.environ: 7% of a worker's time in a burst). Looked up once here: a proxy
        # (HTTPS_PROXY, NO_PROXY) or a CA bundle set in the environment still applies.
        self.proxies = requests.utils.get_environ_proxies(self.base_url)
        self.verify = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
        self.trust_env = False

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        text = url.decode() if isinstance(url, bytes) else url
        if text.startswith(TWEEPY_HOST):
            text = self.base_url + text[len(TWEEPY_HOST) :]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, text, *args, **kwargs)


def refused_before_sending(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return "ConnectionRefused" in text or "NewConnectionError" in text

"""From a participant's post to the host seeing it in the console, and the console under load.

The three loopback servers (X, Mastodon, Bluesky) run here with the real clock; a real
`chatbot run` worker process hosts a chat on all three and follows its answers (X enabled);
the web app is served over loopback HTTP and a host's console is open in headless Chromium.
Each sample posts one answer on a server and waits until the console page shows it: the
worker's read interval, its write, the page's one-second fetch and the render are all in the
figure. Mastodon is measured twice: over its hashtag stream, and polling (streaming off).

Then 500 answers arrive across the three platforms in 50 s (ten times an hour's busiest pace)
while a client fetches the answers fragment every 100 ms: its response times say whether the
console stays responsive, and the last answer's arrival in the page says whether it keeps up.

    python bench/bench_answers.py            # 20 samples per platform; docs/benchmarks.md
    python bench/bench_answers.py --quick    # 5 samples, no load run (writes nothing)
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from bench.report import percentile, write_section  # noqa: E402
from chatbot.config import load_config  # noqa: E402
from chatbot.db.models import Post, PostState  # noqa: E402
from chatbot.db.session import open_database  # noqa: E402
from chatbot.web import create_app  # noqa: E402
from chatbot.web.users import add_user, new_password  # noqa: E402
from tests.blueskyserver import BlueskyServer  # noqa: E402
from tests.mastodonserver import MastodonServer  # noqa: E402
from tests.xserver import XServer  # noqa: E402

PASSWORD = "correct horse battery staple"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHAT = """id: bench
title: Benchmark chat
hashtag: "#LFPchat"
host: [lfp, lfp_masto, lfp_bsky]
starts_at: '{start}'
interval: 1h
follow: {{x: true, x_max_reads: 100000, after: 1h}}
intro: "Welcome to #LFPchat, the benchmark chat."
questions:
  - text: What does face surveillance mean for patrons?
  - text: Who carries the risk?
"""


class Servers:
    def __init__(self) -> None:
        self.x = XServer().start()
        self.masto = MastodonServer().start()
        self.bsky = BlueskyServer().start()
        self.env = {
            **self.x.env_for("LFP", self.x.add_user("libraryfreedom")),
            **self.masto.env_for("LFPM", self.masto.add_account("lfp")),
            **self.bsky.env_for("LFPB", self.bsky.add_account("lfp.bsky.social")),
        }

    def answer(self, platform: str, author: str, text: str) -> None:
        if platform == "x":
            self.x.post_as(author, text)
        elif platform == "mastodon":
            self.masto.post_as(author, text)
        else:
            self.bsky.post_as(f"{author}.bsky.social", text)

    def stop(self) -> None:
        for srv in (self.x, self.masto, self.bsky):
            srv.stop()


@contextmanager
def hosted_chat(streaming: bool) -> Iterator[tuple[Servers, str, Any]]:
    """Servers, a worker following the chat (Q1 already out) and the console's base URL."""
    servers = Servers()
    tmp = Path(tempfile.mkdtemp(prefix="chatbot-bench-answers-"))
    env = {**os.environ, **servers.env, "CHATBOT_USER": "bench"}
    env.pop("DATABASE_URL", None)
    (tmp / "content" / "chats").mkdir(parents=True)
    shutil.copytree(ROOT / "graphics", tmp / "graphics")
    (tmp / "config.yaml").write_text(
        f"timezone: UTC\ndatabase_url: sqlite:///{tmp / 'bench.db'}\npublisher: live\n"
        "accounts:\n"
        "  lfp: {platform: x, handle: '@libraryfreedom', env_prefix: LFP}\n"
        f"  lfp_masto: {{platform: mastodon, handle: '@lfp', env_prefix: LFPM, "
        f"instance_url: {servers.masto.url}}}\n"
        f"  lfp_bsky: {{platform: bluesky, handle: '@lfp.bsky.social', env_prefix: LFPB, "
        f"instance_url: {servers.bsky.url}}}\n"
        f"platforms:\n  x: {{api_base_url: {servers.x.url}}}\n"
        f"answers: {{streaming: {str(streaming).lower()}}}\n"
    )
    start = datetime.now(UTC) + timedelta(seconds=4)
    (tmp / "content" / "chats" / "bench.yaml").write_text(
        CHAT.format(start=start.isoformat(timespec="seconds"))
    )
    cli = [sys.executable, "-m", "chatbot", "--config", str(tmp / "config.yaml")]
    for args in (["apply"], ["approve", "bench", "--by", "bench"]):
        subprocess.run([*cli, *args], env=env, check=True, capture_output=True)
    config = load_config(str(tmp / "config.yaml"))
    db = open_database(config.database_url)
    with db.write() as session:
        add_user(session, "hank", new_password(PASSWORD), "host", None, datetime.now(UTC), set())
    worker = subprocess.Popen(
        [*cli, "run", "--log-level", "WARNING"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "worker.log").open("w"),
    )
    app = create_app(config=config, db=db, secret_key="bench-" + "x" * 40)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}).start()
    try:
        # Q1 out on all three: the chat's first question is "now" (the host's `chat now`).
        from chatbot.queue import live

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with db.read() as session:
                intro = session.query(Post).filter(Post.kind == "intro").all()
            if intro and all(p.state == PostState.POSTED for p in intro):
                break
            time.sleep(0.1)
        with db.write() as session:
            live.post_now(session, "bench", datetime.now(UTC), "bench", number=1)
        while time.monotonic() < deadline:
            with db.read() as session:
                q1 = session.query(Post).filter(Post.kind == "question", Post.number == 1).all()
            if q1 and all(p.state == PostState.POSTED for p in q1):
                break
            time.sleep(0.1)
        else:
            log = (tmp / "worker.log").read_text()[-3000:]
            with db.read() as session:
                log += "\n".join(
                    f"{p.key} {p.state} {p.state_reason} {p.scheduled_at}"
                    for p in session.query(Post).all()
                )
            raise SystemExit(f"Q1 did not go out within 30 s; the worker said:\n{log}")
        time.sleep(3)  # the follower has opened its stream and read each platform once
        yield servers, f"http://127.0.0.1:{server.server_port}", db
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        server.shutdown()
        db.dispose()
        servers.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def console(browser: Any, base: str) -> Any:
    page = browser.new_context().new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Name").fill("hank")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/chats/bench")
    return page


def latencies(servers: Servers, page: Any, platform: str, samples: int) -> list[float]:
    out = []
    for i in range(samples):
        marker = f"{platform}{i}z{random.randrange(10**6)}"
        started = time.monotonic()
        servers.answer(platform, f"p{i}", f"A1 benchmark answer {marker} #LFPchat")
        page.wait_for_function(
            "(m) => document.getElementById('answers-list').textContent.includes(m)",
            arg=marker,
            timeout=15_000,
            polling="raf",
        )
        out.append((time.monotonic() - started) * 1000)
        time.sleep(random.uniform(0.2, 1.2))  # samples at every phase of the read intervals
    return out


def load(servers: Servers, base: str, page: Any) -> dict[str, float]:
    """500 answers in 50 s across the platforms; the fragment fetched every 100 ms meanwhile."""
    session = requests.Session()
    login = session.get(f"{base}/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login)
    assert token is not None
    session.post(
        f"{base}/login", data={"name": "hank", "password": PASSWORD, "csrf_token": token[1]}
    )
    times: list[float] = []
    stop = threading.Event()

    def fetch() -> None:
        while not stop.is_set():
            started = time.monotonic()
            response = session.get(f"{base}/chats/bench/answers")
            response.raise_for_status()
            times.append((time.monotonic() - started) * 1000)
            time.sleep(0.1)

    thread = threading.Thread(target=fetch)
    thread.start()
    platforms = ["x", "mastodon", "bluesky"]
    begin = time.monotonic()
    for i in range(500):
        servers.answer(platforms[i % 3], f"load{i}", f"A1 load answer number {i} #LFPchat")
        time.sleep(max(0.0, begin + (i + 1) * 0.1 - time.monotonic()))
    last = time.monotonic()
    page.wait_for_function(
        "() => document.getElementById('answers-list').textContent"
        ".includes('load answer number 499 ')",
        timeout=30_000,
        polling="raf",
    )
    caught_up = (time.monotonic() - last) * 1000
    stop.set()
    thread.join()
    return {
        "fetches": len(times),
        "p50": percentile(times, 50),
        "p95": percentile(times, 95),
        "max": max(times),
        "last": caught_up,
    }


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per fetch otherwise
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    samples = 5 if args.quick else 20
    from playwright.sync_api import sync_playwright

    rows: list[tuple[str, str, list[float]]] = []
    loaded: dict[str, float] = {}
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for streaming in (True, False):
            with hosted_chat(streaming) as (servers, base, _db):
                page = console(browser, base)
                platforms = ["mastodon"] if not streaming else ["mastodon", "bluesky", "x"]
                for platform in platforms:
                    how = {
                        "mastodon": "hashtag stream" if streaming else "polling, 1.5 s",
                        "bluesky": "polling, 1 s",
                        "x": "polling, 3 s",
                    }[platform]
                    values = latencies(servers, page, platform, samples)
                    rows.append((platform, how, values))
                    print(
                        f"{platform:9} {how:15} p50 {percentile(values, 50):5.0f} ms  "
                        f"p95 {percentile(values, 95):5.0f} ms  max {max(values):5.0f} ms",
                        flush=True,
                    )
                if streaming and not args.quick:
                    loaded = load(servers, base, page)
                    print(
                        f"load: {loaded['fetches']:.0f} fetches, p50 {loaded['p50']:.1f} ms, "
                        f"p95 {loaded['p95']:.1f} ms, max {loaded['max']:.0f} ms; last answer "
                        f"shown {loaded['last']:.0f} ms after it was posted",
                        flush=True,
                    )
        browser.close()
    if args.quick:
        return
    body = [
        "## Following a chat's answers (`bench/bench_answers.py`)\n",
        "A real `chatbot run` worker hosts a chat on the loopback X, Mastodon and Bluesky "
        "servers and follows its answers (default intervals); the host's console is open in "
        "headless Chromium. Each sample posts one answer on a server and waits until the "
        "console shows it: the worker's read, its write, the page's check for a change (four "
        "times a second), its fetch and the render. "
        f"{samples} samples per row, at random phases. Aim: p95 under 2 s polling at "
        "the default interval, under 500 ms on Mastodon's stream. X's interval is bound by its "
        "limit on recent search (450 per 15 minutes per app: one every 2 s at most).\n",
        "| platform | read by | p50 | p95 | max |",
        "|---|---|---|---|---|",
    ]
    for platform, how, values in rows:
        body.append(
            f"| {platform} | {how} | {percentile(values, 50):.0f} ms | "
            f"{percentile(values, 95):.0f} ms | {max(values):.0f} ms |"
        )
    body += [
        "",
        "500 answers in 50 s across the three platforms (ten times an hour's pace of 500), "
        "the answers fragment fetched every 100 ms meanwhile:",
        "",
        "| fragment fetches | p50 | p95 | max | last answer shown after it was posted |",
        "|---|---|---|---|---|",
        f"| {loaded['fetches']:.0f} | {loaded['p50']:.1f} ms | {loaded['p95']:.1f} ms | "
        f"{loaded['max']:.0f} ms | {loaded['last']:.0f} ms |",
    ]
    write_section("answers", "\n".join(body))


if __name__ == "__main__":
    main()

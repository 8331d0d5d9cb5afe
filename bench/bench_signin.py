"""Live chat lateness while the sign-in page is flooded with wrong passwords.

A real `chatbot run` worker posts a chat (a question every 4 s, one partner reposting each) to
the loopback X server on SQLite, while the web app runs under gunicorn (the Procfile's line:
2 workers x 4 threads) and 8 clients post wrong passwords to /login as fast as they can. Three
runs: no flood; a flood with the default throttling (5 failures, then 429s for a growing
time); and a flood with throttling turned off (`web.sign_in_attempts: 1000000`), where every
request runs argon2: that run shows what keeping hashing out of write transactions is worth
on its own (before the fix, 8 such requests made questions 11 s and reposts 48 s late).

Lateness is measured at the server: a question's creation time minus its due time; a repost's
creation minus (its original's creation plus its offset).

    python bench/bench_signin.py            # 15 questions per run, writes docs/benchmarks.md
    python bench/bench_signin.py --quick    # 6 questions per run
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import percentile, write_section  # noqa: E402
from tests.xserver import XServer  # noqa: E402

INTERVAL = 4  # seconds between questions
REPOST_AFTER = 60  # partners repost at least a minute after the original (MIN_SPREAD)
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def flood(base: str, stop: threading.Event, counts: dict[int, int], lock: threading.Lock) -> None:
    import requests

    session = requests.Session()
    while not stop.is_set():
        try:
            page = session.get(f"{base}/login", timeout=10)
            match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            answer = session.post(
                f"{base}/login",
                data={
                    "name": "olga",
                    "password": "not the password at all",
                    "csrf_token": match.group(1) if match else "",
                },
                timeout=10,
                allow_redirects=False,
            )
            with lock:
                counts[answer.status_code] = counts.get(answer.status_code, 0) + 1
        except requests.RequestException:
            with lock:
                counts[0] = counts.get(0, 0) + 1


def scenario(flooding: bool, throttled: bool, questions: int) -> dict[str, object]:
    server = XServer().start()
    env = dict(os.environ)
    env.update(server.env_for("LFP", server.add_user("libraryfreedom")))
    env.update(server.env_for("MASSLIB", server.add_user("masslib")))
    env["CHATBOT_SECRET_KEY"] = "bench-" + "x" * 40
    tmp = Path(tempfile.mkdtemp(prefix="chatbot-bench-signin-"))
    config = tmp / "config.yaml"
    env["CHATBOT_CONFIG"] = str(config)
    attempts = 5 if throttled else 1_000_000
    config.write_text(
        f"timezone: UTC\ndatabase_url: sqlite:///{tmp / 'bench.db'}\npublisher: live\n"
        "accounts:\n"
        "  lfp: {platform: x, handle: '@libraryfreedom', env_prefix: LFP}\n"
        "  masslib: {platform: x, handle: '@masslib', env_prefix: MASSLIB}\n"
        f"platforms:\n  x:\n    api_base_url: {server.url}\n"
        f"web: {{sign_in_attempts: {attempts}}}\n"
    )
    start = (datetime.now(UTC) + timedelta(seconds=15)).replace(microsecond=0)
    lines = "\n".join(f"  - text: Benchmark question {i}?" for i in range(1, questions + 1))
    (tmp / "content" / "chats").mkdir(parents=True)
    (tmp / "content" / "chats" / "bench.yaml").write_text(
        "id: bench\nhashtag: '#LFPchat'\nhost: lfp\n"
        f"starts_at: '{start.isoformat(timespec='seconds')}'\ninterval: {INTERVAL}s\n"
        f"questions:\n{lines}\namplify:\n  - {{account: masslib, after: {REPOST_AFTER}s}}\n"
    )
    cli = [sys.executable, "-m", "chatbot"]
    for args in (["apply"], ["approve", "bench", "--by", "bench"]):
        subprocess.run([*cli, *args], env=env, check=True, capture_output=True)
    subprocess.run(
        [*cli, "user", "add", "olga", "--role", "organizer", "--password-stdin"],
        env=env,
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "4", "--bind",
         f"127.0.0.1:{port}", "chatbot.web:create_app()"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [*cli, "run", "--log-level", "WARNING"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stop = threading.Event()
    counts: dict[int, int] = {}
    lock = threading.Lock()
    floods: list[threading.Thread] = []
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        if flooding:
            floods = [
                threading.Thread(target=flood, args=(base, stop, counts, lock), daemon=True)
                for _ in range(8)
            ]
            for thread in floods:
                thread.start()
        last_repost = start + timedelta(seconds=INTERVAL * questions + REPOST_AFTER + 20)
        while datetime.now(UTC) < last_repost and len(server.tweets) < 2 * questions:
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in floods:
            thread.join(15)
        worker.send_signal(signal.SIGTERM)
        web.send_signal(signal.SIGTERM)
        worker.wait(30)
        web.wait(30)
        server.stop()
    originals = {t.id: t for t in server.tweets.values() if t.retweet_of is None}
    question_lateness = []
    for tweet in originals.values():
        number = int(re.search(r"question (\d+)", tweet.text).group(1))  # type: ignore[union-attr]
        due = start + timedelta(seconds=INTERVAL * number)
        question_lateness.append((tweet.created_at - due).total_seconds() * 1000)
    repost_lateness = [
        (t.created_at - originals[t.retweet_of].created_at).total_seconds() * 1000
        - REPOST_AFTER * 1000
        for t in server.tweets.values()
        if t.retweet_of is not None and t.retweet_of in originals
    ]
    if len(question_lateness) != questions or len(repost_lateness) != questions:
        raise SystemExit(
            f"expected {questions} questions and reposts, got {len(question_lateness)} and "
            f"{len(repost_lateness)}"
        )
    return {
        "q50": percentile(question_lateness, 50),
        "qmax": max(question_lateness),
        "r50": percentile(repost_lateness, 50),
        "rmax": max(repost_lateness),
        "requests": sum(counts.values()),
        "refused": counts.get(429, 0),
        "seconds": INTERVAL * questions + REPOST_AFTER,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="6 questions instead of 15")
    args = parser.parse_args()
    questions = 6 if args.quick else 15
    runs = [
        ("no flood", False, True),
        ("flood, throttled (default)", True, True),
        ("flood, throttling off", True, False),
    ]
    rows = []
    for name, flooding, throttled in runs:
        r = scenario(flooding, throttled, questions)
        rate = float(r["requests"]) / float(r["seconds"])  # type: ignore[arg-type]
        print(
            f"{name:28} questions late p50 {r['q50']:.0f} ms max {r['qmax']:.0f} ms; reposts "
            f"p50 {r['r50']:.0f} ms max {r['rmax']:.0f} ms; {r['requests']} sign-ins "
            f"({rate:.0f}/s), {r['refused']} refused with 429",
            flush=True,
        )
        rows.append((name, r, rate))
    body = [
        "## Live chat under a sign-in flood (`bench/bench_signin.py`)\n",
        f"A chat of {questions} questions {INTERVAL} s apart, each reposted by a partner, "
        "posted by a real `chatbot run` worker on SQLite to the loopback X server, while the "
        "web app runs under gunicorn (2 workers x 4 threads) and 8 clients post wrong "
        "passwords to `/login` as fast as they can. Lateness is creation time at the server "
        "minus the due time (for a repost: minus its original's creation plus its offset). "
        "Before the fix, 8 parallel wrong-password requests made questions 11 s and reposts "
        "48 s late: argon2 ran inside SQLite's write transaction.\n",
        "| run | question lateness p50 | max | repost lateness p50 | max | sign-in requests "
        "| refused (429) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r, rate in rows:
        body.append(
            f"| {name} | {r['q50']:.0f} ms | {r['qmax']:.0f} ms | {r['r50']:.0f} ms | "
            f"{r['rmax']:.0f} ms | {r['requests']} ({rate:.0f}/s) | {r['refused']} |"
        )
    write_section("signin", "\n".join(body))


if __name__ == "__main__":
    main()

"""Timeline page response time with 5,000 queued posts.

5,000 campaign posts over 20 accounts are applied to a fresh database, all in one week (the worst
case for the default week view, which lists up to `web.page_size` of them). The app is served over
real HTTP on loopback (werkzeug, threaded) and a signed-in organizer requests the week page, the
week filtered to one account, and the next (empty) week, 200 times each.

    python bench/bench_web.py            # SQLite and PostgreSQL, writes docs/benchmarks.md
    python bench/bench_web.py --quick    # SQLite only, 50 requests each
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_engine import drop_db, make_db  # noqa: E402
from bench.report import percentile, write_section  # noqa: E402
from chatbot.config import load_config  # noqa: E402
from chatbot.content.load import load_content  # noqa: E402
from chatbot.db.session import open_database  # noqa: E402
from chatbot.queue.apply import apply_plan  # noqa: E402
from chatbot.web import create_app  # noqa: E402
from chatbot.web.users import add_user, new_password  # noqa: E402

POSTS = 5000
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the figures
ACCOUNTS = 20
WEEK = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday
PASSWORD = "benchmark password"


def scenario(kind: str, requests_each: int) -> dict[str, dict[str, float]]:
    tmp = Path(tempfile.mkdtemp(prefix="chatbot-bench-web-"))
    url, db_name = make_db(kind, tmp)
    server = None
    try:
        accounts = "\n".join(
            f"  p{i}: {{platform: dryrun, handle: '@partner{i}'}}" for i in range(ACCOUNTS)
        )
        (tmp / "content" / "campaigns").mkdir(parents=True)
        (tmp / "config.yaml").write_text(
            f"timezone: UTC\ndatabase_url: {url}\naccounts:\n{accounts}\n"
        )
        lines = []
        for i in range(POSTS):
            due = WEEK + timedelta(seconds=i * (7 * 86400 // POSTS))
            lines.append(
                f"  - {{id: b{i}, account: p{i % ACCOUNTS}, text: 'Benchmark post {i} about "
                f"#BanFaceSurveillance https://example.org/{i}', at: '{due.isoformat()}'}}"
            )
        (tmp / "content" / "campaigns" / "bench.yaml").write_text(
            "id: bench\naccounts: [p0]\nposts:\n" + "\n".join(lines) + "\n"
        )
        config = load_config(str(tmp / "config.yaml"))
        db = open_database(url)
        now = WEEK - timedelta(days=1)
        password = new_password(PASSWORD)
        with db.write() as session:
            apply_plan(session, load_content(config), config, now, "bench")
            add_user(session, "olga", password, "organizer", None, now, set())
        app = create_app(config=config, db=db, secret_key="b" * 40, clock=lambda: now)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        http = requests.Session()
        token = re.search(r'name="csrf_token" value="([^"]+)"', http.get(f"{base}/login").text)
        assert token is not None
        http.post(
            f"{base}/login",
            data={"name": "olga", "password": PASSWORD, "csrf_token": token.group(1)},
        )
        pages = {
            "week (first 300 of 5,000)": f"{base}/?week=2026-12-07",
            "week, one account (250)": f"{base}/?week=2026-12-07&account=p3",
            "empty week": f"{base}/?week=2026-12-14",
        }
        results = {}
        for name, page in pages.items():
            assert http.get(page).status_code == 200  # warm up
            times = []
            for _ in range(requests_each):
                started = time.perf_counter()
                response = http.get(page)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            results[name] = {
                "p50": percentile(times, 50),
                "p95": percentile(times, 95),
                "bytes": len(response.content),
            }
        db.dispose()
        return results
    finally:
        if server is not None:
            server.shutdown()
        drop_db(db_name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="SQLite only, 50 requests each")
    args = parser.parse_args()
    kinds = ("sqlite",) if args.quick else ("sqlite", "postgresql")
    count = 50 if args.quick else 200
    rows = []
    for kind in kinds:
        for page, r in scenario(kind, count).items():
            print(
                f"{kind:10} {page:28} p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, "
                f"{r['bytes'] / 1024:.0f} KiB",
                flush=True,
            )
            rows.append((kind, page, r))
    body = [
        "## Web timeline (`bench/bench_web.py`)\n",
        f"{POSTS:,} queued posts over {ACCOUNTS} accounts, all in one week; a signed-in "
        f"organizer requests each page {count} times over loopback HTTP (werkzeug, threaded). "
        "The week view lists at most `web.page_size` (300) posts and says so. Aim: p95 under "
        "150 ms.\n",
        "| database | page | p50 | p95 | size |",
        "|---|---|---|---|---|",
    ]
    for kind, page, r in rows:
        body.append(
            f"| {kind} | {page} | {r['p50']:.1f} ms | {r['p95']:.1f} ms | "
            f"{r['bytes'] / 1024:.0f} KiB |"
        )
    write_section("web", "\n".join(body))


if __name__ == "__main__":
    main()

"""Posting engine benchmark: 2,000 posts over 20 accounts against the loopback X server.

Two shapes (all due in one burst; spread evenly over 40 s) on SQLite with one worker and on
PostgreSQL with 1, 2 and 4 workers. Lateness is measured at the server: when the post was
created minus when it was due. Peak memory is each worker process's maximum RSS.

    python bench/bench_engine.py            # all scenarios, writes docs/benchmarks.md
    python bench/bench_engine.py --quick    # 200 posts, for a smoke run
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import percentile, write_section  # noqa: E402
from tests.xserver import XServer  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
ACCOUNTS = 20


def make_db(kind: str, tmp: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", None
    import psycopg

    name = f"chatbot_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name


def drop_db(name: str | None) -> None:
    if name is None:
        return
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def scenario(kind: str, workers: int, shape: str, posts: int) -> dict[str, float]:
    server = XServer().start()
    env = dict(os.environ)
    accounts = []
    for i in range(ACCOUNTS):
        user = server.add_user(f"partner{i}")
        env.update(server.env_for(f"P{i}", user))
        accounts.append(f"  p{i}: {{platform: x, handle: '@partner{i}', env_prefix: P{i}}}")
    tmp = Path(tempfile.mkdtemp(prefix="chatbot-bench-"))
    url, db_name = make_db(kind, tmp)
    try:
        (tmp / "content" / "campaigns").mkdir(parents=True)
        (tmp / "config.yaml").write_text(
            f"timezone: UTC\ndatabase_url: {url}\npublisher: live\naccounts:\n"
            + "\n".join(accounts)
            + f"\nplatforms:\n  x:\n    api_base_url: {server.url}\n"
            "worker: {concurrency: 16, refresh: 1s}\nlateness: {campaign: 1h}\n"
        )
        start = datetime.now(UTC) + timedelta(seconds=12)
        spread = timedelta(0) if shape == "burst" else timedelta(seconds=40)
        lines = []
        for i in range(posts):
            due = start + spread * (i / posts)
            lines.append(
                f"  - {{id: b{i}, account: p{i % ACCOUNTS}, text: 'Benchmark post {i} "
                f"#BanFaceSurveillance', at: '{due.isoformat(timespec='milliseconds')}'}}"
            )
        (tmp / "content" / "campaigns" / "bench.yaml").write_text(
            "id: bench\naccounts: [p0]\nposts:\n" + "\n".join(lines) + "\n"
        )
        cli = [sys.executable, "-m", "chatbot", "--config", str(tmp / "config.yaml")]
        for args in (["apply"], ["approve", "bench", "--by", "bench"]):
            subprocess.run([*cli, *args], env=env, check=True, capture_output=True)
        procs = [
            subprocess.Popen(
                [*cli, "run", "--until-idle", "--log-level", "WARNING"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        peak_kib = 0
        for proc in procs:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            peak_kib = max(peak_kib, usage.ru_maxrss)
            if proc.returncode != 0:
                raise SystemExit(f"worker exited {proc.returncode}")
        due_by_text = {
            f"Benchmark post {i} #BanFaceSurveillance": start + spread * (i / posts)
            for i in range(posts)
        }
        created = [(t.created_at, due_by_text[t.text]) for t in server.tweets.values()]
        if len(created) != posts or len({t.text for t in server.tweets.values()}) != posts:
            raise SystemExit(f"expected {posts} distinct posts, server has {len(created)}")
        lateness = [max(0.0, (c - d).total_seconds() * 1000) for c, d in created]
        first = min(c for c, _ in created)
        last = max(c for c, _ in created)
        span = max((last - first).total_seconds(), 1e-3)
        return {
            "p50": percentile(lateness, 50),
            "p99": percentile(lateness, 99),
            "max": max(lateness),
            "throughput": posts / span,
            "peak_mib": peak_kib / 1024,
        }
    finally:
        server.stop()
        drop_db(db_name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="200 posts instead of 2,000")
    parser.add_argument(
        "--steady",
        action="store_true",
        help="200 posts over 40 s (5 a second): a busy chat night, not a burst",
    )
    args = parser.parse_args()
    posts = 200 if args.quick or args.steady else 2000
    runs = [("sqlite", 1), ("postgresql", 1), ("postgresql", 2), ("postgresql", 4)]
    rows = []
    shapes = ("steady",) if args.steady else ("burst", "spread")
    for shape in shapes:
        for kind, workers in runs:
            started = time.monotonic()
            result = scenario(kind, workers, shape, posts)
            print(
                f"{shape:6} {kind:10} workers={workers}: lateness p50 {result['p50']:.0f} ms, "
                f"p99 {result['p99']:.0f} ms, max {result['max']:.0f} ms, "
                f"{result['throughput']:.0f} posts/s, peak {result['peak_mib']:.0f} MiB "
                f"({time.monotonic() - started:.0f} s)",
                flush=True,
            )
            rows.append((shape, kind, workers, result))
    body = [
        "## Posting engine (`bench/bench_engine.py`)\n",
        f"{posts} posts over {ACCOUNTS} X accounts against the loopback X-compatible server "
        "(real HTTP, OAuth 1.0a), 16 send threads per worker. *Burst*: all due at the same "
        "instant. *Spread*: due evenly over 40 s (*steady*: the same with 200 posts, 5 a "
        "second). Lateness = server-side creation time minus "
        "due time. Throughput = posts / (last creation - first creation).\n",
        "| shape | database | workers | lateness p50 | p99 | max | throughput "
        "| peak RSS / worker |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for shape, kind, workers, r in rows:
        body.append(
            f"| {shape} | {kind} | {workers} | {r['p50']:.0f} ms | {r['p99']:.0f} ms | "
            f"{r['max']:.0f} ms | {r['throughput']:.0f} posts/s | {r['peak_mib']:.0f} MiB |"
        )
    write_section("engine-steady" if args.steady else "engine", "\n".join(body))


if __name__ == "__main__":
    main()

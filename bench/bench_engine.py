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
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import percentile, write_section  # noqa: E402
from bench.texts import distinct_texts  # noqa: E402
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


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every core since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _busy_between(ticks: list[tuple[float, int, int]], start: float, end: float) -> float:
    """The share of both cores busy between two moments, from the samples around them."""
    inside = [t for t in ticks if start - 0.05 <= t[0] <= end + 0.05] or ticks[-2:]
    if len(inside) < 2:
        return float("nan")
    (_, busy0, total0), (_, busy1, total1) = inside[0], inside[-1]
    return (busy1 - busy0) / max(1, total1 - total0)


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def scenario(
    kind: str,
    workers: int,
    shape: str,
    posts: int,
    rss_samples: list[tuple[int, float]] | None = None,
) -> dict[str, float]:
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
        # time to apply and approve before the first is due (about 2 ms a post)
        start = datetime.now(UTC) + timedelta(seconds=12 + posts / 500)
        spread = timedelta(0) if shape == "burst" else timedelta(seconds=40)
        texts = distinct_texts(posts)
        for part, first in enumerate(range(0, posts, 2000)):  # a file may be at most 2 MB
            lines = []
            for i in range(first, min(posts, first + 2000)):
                due = start + spread * (i / posts)
                lines.append(
                    f"  - {{id: b{i}, account: p{i % ACCOUNTS}, text: '{texts[i]}', "
                    f"at: '{due.isoformat(timespec='milliseconds')}'}}"
                )
            (tmp / "content" / "campaigns" / f"bench-{part}.yaml").write_text(
                f"id: bench-{part}\naccounts: [p0]\nposts:\n" + "\n".join(lines) + "\n"
            )
        cli = [sys.executable, "-m", "chatbot", "--config", str(tmp / "config.yaml")]
        parts = [f"bench-{part}" for part in range(-(-posts // 2000))]
        for args in (["apply"], *(["approve", part, "--by", "bench"] for part in parts)):
            subprocess.run([*cli, *args], env=env, check=True, capture_output=True)
        worker_cpu = 0.0
        ticks: list[tuple[float, int, int]] = []  # (wall time, busy, total) every 50 ms
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.05):
                ticks.append((time.time(), *_cpu_ticks()))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        procs = [
            subprocess.Popen(
                [*cli, "run", "--log-level", "WARNING"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        peak_kib = 0

        def stop_when_all_sent() -> None:
            # Workers as deployed (`chatbot run`, not `--until-idle`, which looks again after
            # every send to notice it is done): stopped with SIGTERM once every post exists.
            while len(server.tweets) < posts and all(p.poll() is None for p in procs):
                time.sleep(0.05)
            time.sleep(1.0)
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)

        threading.Thread(target=stop_when_all_sent, daemon=True).start()
        for index, proc in enumerate(procs):
            while True:
                # The first worker's memory is sampled while it runs (per-post mode).
                pid, status, usage = os.wait4(
                    proc.pid, os.WNOHANG if rss_samples is not None and index == 0 else 0
                )
                if pid:
                    break
                assert rss_samples is not None
                rss_samples.append((len(server.tweets), _rss_mib(proc.pid)))
                time.sleep(0.05)
            proc.returncode = os.waitstatus_to_exitcode(status)
            peak_kib = max(peak_kib, usage.ru_maxrss)
            worker_cpu += usage.ru_utime + usage.ru_stime
            if proc.returncode != 0:
                raise SystemExit(f"worker exited {proc.returncode}")
        sampling.set()
        sampler.join()
        due_by_text = {texts[i]: start + spread * (i / posts) for i in range(posts)}
        created = [(t.created_at, due_by_text[t.text]) for t in server.tweets.values()]
        if len(created) != posts or len({t.text for t in server.tweets.values()}) != posts:
            raise SystemExit(f"expected {posts} distinct posts, server has {len(created)}")
        lateness = [max(0.0, (c - d).total_seconds() * 1000) for c, d in created]
        first = min(c for c, _ in created)
        last = max(c for c, _ in created)
        span = max((last - first).total_seconds(), 1e-3)
        return {
            "wall_ms": (last - first).total_seconds() * 1000,
            "p50": percentile(lateness, 50),
            "p99": percentile(lateness, 99),
            "max": max(lateness),
            "throughput": posts / span,
            "peak_mib": peak_kib / 1024,
            # every process (workers, this one's loopback X server, PostgreSQL) while it ran
            "cpu_busy": _busy_between(ticks, first.timestamp(), last.timestamp()),
            "worker_cpu_ms": worker_cpu * 1000 / posts,
        }
    finally:
        server.stop()
        drop_db(db_name)


def bare_calls(posts: int) -> float:
    """ms per post for the same signed calls made straight through requests + OAuth 1.0a, one
    after another, to a fresh loopback server: what sending costs without the tool."""
    import requests
    from requests_oauthlib import OAuth1

    from tests.xserver import CONSUMER_KEY, CONSUMER_SECRET

    server = XServer().start()
    users = [server.add_user(f"partner{i}") for i in range(ACCOUNTS)]
    session = requests.Session()
    auths = [OAuth1(CONSUMER_KEY, CONSUMER_SECRET, u.token, u.secret) for u in users]
    try:
        started = time.perf_counter()
        for i in range(posts):
            response = session.post(
                f"{server.url}/2/tweets",
                json={"text": f"Bare post {i} #BanFaceSurveillance"},
                auth=auths[i % ACCOUNTS],
                timeout=10,
            )
            response.raise_for_status()
        return (time.perf_counter() - started) * 1000 / posts
    finally:
        server.stop()


def per_post(posts: int, runs: int = 3) -> None:
    """Worker wall time per post in a burst (SQLite, one worker) against the bare signed call,
    and the worker's memory between post 1,000 and the last; ``runs`` times, because the bare
    call alone varies by half from run to run on this machine."""
    table = []
    for _ in range(runs):
        rss: list[tuple[int, float]] = []
        result = scenario("sqlite", 1, "burst", posts, rss_samples=rss)
        bare = bare_calls(min(posts, 2000))
        worker_ms = result["wall_ms"] / posts
        rss = [(count, mib) for count, mib in rss if mib == mib]  # not read as it exited
        at_1000 = next((mib for count, mib in rss if count >= 1000), float("nan"))
        last = rss[-1][1] if rss else float("nan")
        print(
            f"burst of {posts}: worker {worker_ms:.2f} ms per post (claim to last creation), "
            f"bare signed call {bare:.2f} ms: {worker_ms / bare:.1f}x; RSS at post 1,000 "
            f"{at_1000:.0f} MiB, at the last {last:.0f} MiB, peak {result['peak_mib']:.0f} MiB",
            flush=True,
        )
        table.append(
            f"| {posts} | {worker_ms:.2f} | {bare:.2f} | {worker_ms / bare:.1f}x "
            f"| {at_1000:.0f} MiB | {last:.0f} MiB | {result['peak_mib']:.0f} MiB |"
        )
    body = [
        "## Worker cost per post (`bench/bench_engine.py --per-post`)\n",
        f"{posts} posts over {ACCOUNTS} X accounts, all due at once, one worker on SQLite, "
        "against the loopback X server, one row per run. *Worker*: wall time from the worker's "
        "start of sending to the last post's creation, per post (16 send threads). *Bare*: the "
        "same signed call (requests + OAuth 1.0a) made one after another with nothing else, "
        "in the same run. RSS sampled from /proc while it runs.\n",
        "| posts | worker ms/post | bare signed call ms | ratio | RSS at post 1,000 "
        "| RSS at the last | peak RSS |",
        "|---|---|---|---|---|---|---|",
        *table,
    ]
    write_section("engine-per-post", "\n".join(body))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="200 posts instead of 2,000")
    parser.add_argument(
        "--per-post",
        type=int,
        metavar="N",
        help="worker ms per post against the bare signed call, and RSS, for a burst of N",
    )
    parser.add_argument(
        "--steady",
        action="store_true",
        help="200 posts over 40 s (5 a second): a busy chat night, not a burst",
    )
    args = parser.parse_args()
    if args.per_post:
        per_post(args.per_post)
        return
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
                f"{result['throughput']:.0f} posts/s, peak {result['peak_mib']:.0f} MiB, "
                f"CPU busy {result['cpu_busy']:.0%}, worker CPU {result['worker_cpu_ms']:.1f} "
                "ms/post "
                f"({time.monotonic() - started:.0f} s)",
                flush=True,
            )
            rows.append((shape, kind, workers, result))
    body = [
        "## Posting engine (`bench/bench_engine.py`)\n",
        f"{posts} posts over {ACCOUNTS} X accounts against the loopback X-compatible server "
        "(real HTTP, OAuth 1.0a), 16 send threads per worker; the workers run as deployed "
        "(`chatbot run`, stopped by SIGTERM once every post exists). *Burst*: all due at the same "
        "instant. *Spread*: due evenly over 40 s (*steady*: the same with 200 posts, 5 a "
        "second). Lateness = server-side creation time minus "
        "due time. Throughput = posts / (last creation - first creation). *CPU busy*: both "
        "cores, every process (the workers, the loopback X server, PostgreSQL) between the "
        "first post's creation and the last; *worker CPU*: the workers' own CPU time per post, "
        "start to exit, start-up and the wait for the first due time included. A "
        "burst that keeps both cores busy is bound by this machine's CPU, which more workers "
        "cannot add to.\n",
        "| shape | database | workers | lateness p50 | p99 | max | throughput "
        "| CPU busy | worker CPU / post | peak RSS / worker |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for shape, kind, workers, r in rows:
        body.append(
            f"| {shape} | {kind} | {workers} | {r['p50']:.0f} ms | {r['p99']:.0f} ms | "
            f"{r['max']:.0f} ms | {r['throughput']:.0f} posts/s | {r['cpu_busy']:.0%} | "
            f"{r['worker_cpu_ms']:.1f} ms | {r['peak_mib']:.0f} MiB |"
        )
    write_section("engine-steady" if args.steady else "engine", "\n".join(body))


if __name__ == "__main__":
    main()

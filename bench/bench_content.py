"""A sustained blast at real size: `check`, `plan` and `apply` on 1,000 to 50,000 posts.

A generated campaign of N distinct posts dealt over 20 X accounts (one every three minutes from
January 2027), beside the example chat and campaign, on SQLite and PostgreSQL. Each command runs
as a whole `chatbot` process, as a person runs it, so start-up is included; peak RSS is the
process's maximum resident set. `apply` runs twice: the second finds nothing to do.

    python bench/bench_content.py               # 1,000, 10,000, 50,000; docs/benchmarks.md
    python bench/bench_content.py --sizes 1000  # a smoke run (writes nothing)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_engine import drop_db, make_db  # noqa: E402
from bench.report import write_section  # noqa: E402
from bench.texts import distinct_texts  # noqa: E402

ACCOUNTS = 20
PER_FILE = 2000
START = datetime(2027, 1, 4, 14, tzinfo=UTC)
# As a person runs them, in order; "nothing kept": with the cache emptied first, so the
# command reads and reviews every file (what the first command on changed files costs).
COMMANDS = (
    ("check", ["check"], False),
    ("plan", ["plan"], False),
    ("apply", ["apply"], False),
    ("apply again", ["apply"], False),
    ("plan, nothing kept", ["plan"], True),
    ("apply, nothing kept", ["apply"], True),
)


def project(tmp: Path, posts: int, url: str) -> None:
    shutil.copytree(ROOT / "content", tmp / "content")
    shutil.copytree(ROOT / "graphics", tmp / "graphics")
    config = (ROOT / "config.example.yaml").read_text()
    config = config.replace("database_url: sqlite:///var/chatbot.db", f"database_url: {url}")
    extra = "".join(
        f"  p{i}:\n    platform: x\n    handle: '@partner{i}'\n    env_prefix: P{i}\n"
        for i in range(ACCOUNTS)
    )
    config = config.replace("accounts:\n", "accounts:\n" + extra, 1)
    (tmp / "config.yaml").write_text(config)
    # Several files: a content file may be at most 2 MB (about 10,000 posts).
    texts = distinct_texts(posts)
    for part, first in enumerate(range(0, posts, PER_FILE)):
        lines = [f"id: blast-{part}", f"title: Benchmark blast {part}", "accounts: [p0]", "posts:"]
        for i in range(first, min(posts, first + PER_FILE)):
            at = START + timedelta(minutes=3 * i)
            lines.append(
                f"  - {{id: b{i}, account: p{i % ACCOUNTS}, text: '{texts[i]}', "
                f"at: '{at:%Y-%m-%dT%H:%MZ}'}}"
            )
        (tmp / "content" / "campaigns" / f"blast-{part}.yaml").write_text("\n".join(lines) + "\n")


def timed(argv: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and the last line printed, for one whole process."""
    env = {**os.environ, "CHATBOT_USER": "bench"}
    env.pop("DATABASE_URL", None)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot", *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0,):
        raise SystemExit(f"chatbot {' '.join(argv)} failed:\n{output[-2000:]}")
    last = next((line for line in reversed(output.splitlines()) if line.strip()), "")
    return seconds, usage.ru_maxrss / 1024, last


def timed_floor() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    # This machine's speed varies from hour to hour: the floor of a Python process, measured in
    # the same run, says how fast it was.
    floor = sorted(timed_floor() for _ in range(7))[3]
    print(f"python -c pass: {floor:.0f} ms", flush=True)
    rows = []
    for kind in args.databases.split(","):
        for posts in sizes:
            tmp = Path(tempfile.mkdtemp(prefix="chatbot-bench-content-"))
            url, name = make_db(kind, tmp)
            try:
                project(tmp, posts, url)
                for label, argv, fresh in COMMANDS:
                    if fresh:
                        shutil.rmtree(tmp / "var" / "cache", ignore_errors=True)
                    seconds, rss, last = timed(argv, tmp)
                    print(
                        f"{kind:10} {posts:6} {label:20} {seconds:6.2f} s {rss:5.0f} MB "
                        f"{last[:70]}",
                        flush=True,
                    )
                    rows.append((kind, posts, label, seconds, rss))
            finally:
                drop_db(name)
                shutil.rmtree(tmp, ignore_errors=True)
    if sizes != [1000, 10000, 50000]:
        return
    body = [
        "## Content at blast size (`bench/bench_content.py`)\n",
        f"A generated campaign of N distinct posts over {ACCOUNTS} X accounts plus the example "
        "chat and campaign; each command is a whole `chatbot` process (start-up included), "
        "run in a person's order, so each after `check` starts from the content `check` kept; "
        'the rows "nothing kept" run with the cache emptied first and read every file. '
        "Aim: 10,000 posts under 2 s per command and 300 MB; a second `apply` under 1 s; "
        f"50,000 under 10 s. A bare `python -c pass` took {floor:.0f} ms in this run (the "
        "machine's speed varies from hour to hour).\n",
        "| database | posts | command | seconds | per 1,000 posts | peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for kind, posts, label, seconds, rss in rows:
        body.append(
            f"| {kind} | {posts:,} | `{label}` | {seconds:.2f} | "
            f"{seconds * 1000 / posts:.2f} s | {rss:.0f} MB |"
        )
    write_section("content", "\n".join(body))


if __name__ == "__main__":
    main()

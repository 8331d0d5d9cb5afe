"""How long a host waits for a command: wall time of whole `chatbot` processes.

Each command runs as a new process (as a host or a cron job runs it) against an applied copy of
the example content on SQLite, 15 times; the figure is the median (and the slowest). A bare
`python -c pass` is the floor. The live controls run against the example chat in a paused /
resumed / skipped cycle so that each run changes something; the copy's chat is moved to a week
from today, so that it has not ended whichever day the bench runs. The same commands run on
PostgreSQL too (a database of their own), and with a worker serving them.

    python bench/bench_startup.py            # writes docs/benchmarks.md
    python bench/bench_startup.py --quick    # 5 runs each
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
    return (time.perf_counter() - started) * 1000


def measure(
    commands: list[tuple[str, list[list[str]]]],
    runs: int,
    env: dict[str, str],
    cwd: Path,
    label: str = "",
) -> dict[str, tuple[float, float]]:
    rows: dict[str, tuple[float, float]] = {}
    for name, argvs in commands:
        times = [timed(argvs[i % len(argvs)], env, cwd) for i in range(runs)]
        median, worst = statistics.median(times), max(times)
        print(f"{name + label:58} median {median:6.0f} ms, slowest {worst:6.0f} ms", flush=True)
        rows[name] = (median, worst)
    return rows


def measure_postgresql(
    commands: list[tuple[str, list[list[str]]]], runs: int, env: dict[str, str], cwd: Path
) -> dict[str, tuple[float, float]]:
    """The chatbot commands on a PostgreSQL queue of their own (no worker)."""
    import psycopg

    name = f"chatbot_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    pg_env = {**env, "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"}
    try:
        for setup in (["apply"], ["approve", "fr-chat", "--by", "bench"]):
            subprocess.run(
                [sys.executable, "-m", "chatbot", *setup],
                env=pg_env,
                cwd=cwd,
                check=True,
                capture_output=True,
            )
        chosen = [c for c in commands if c[0].startswith("chatbot ") and "--help" not in c[0]]
        return measure(chosen, runs, pg_env, cwd, " (PostgreSQL)")
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5 runs per command instead of 15")
    args = parser.parse_args()
    runs = 5 if args.quick else 15
    tmp = Path(tempfile.mkdtemp(prefix="chatbot-bench-startup-"))
    shutil.copy(ROOT / "config.example.yaml", tmp / "config.yaml")
    shutil.copytree(ROOT / "content", tmp / "content")
    shutil.copytree(ROOT / "graphics", tmp / "graphics")
    chat_file = tmp / "content" / "chats" / "fr-chat.yaml"
    week_ahead = date.today() + timedelta(days=7)
    chat_file.write_text(
        "\n".join(
            f"starts_at: {week_ahead} 20:00" if line.startswith("starts_at:") else line
            for line in chat_file.read_text().splitlines()
        )
        + "\n"
    )
    # A runtime directory of the bench's own: the config briefs the commands keep, and later
    # the worker's socket, go there and go with it.
    runtime = Path(tempfile.mkdtemp(prefix="cb-bench-", dir="/tmp"))
    env = {**os.environ, "CHATBOT_USER": "bench", "XDG_RUNTIME_DIR": str(runtime)}
    env.pop("DATABASE_URL", None)
    chatbot = [sys.executable, "-m", "chatbot"]
    for setup in (["apply"], ["approve", "fr-chat", "--by", "bench"]):
        subprocess.run([*chatbot, *setup], env=env, cwd=tmp, check=True, capture_output=True)
    commands: list[tuple[str, list[list[str]]]] = [
        ("python -c pass (the floor)", [[sys.executable, "-c", "pass"]]),
        ("chatbot --help", [[*chatbot, "--help"]]),
        ("chatbot status", [[*chatbot, "status"]]),
        ("chatbot chat status fr-chat", [[*chatbot, "chat", "status", "fr-chat"]]),
        (
            "chatbot chat pause / resume fr-chat",
            [[*chatbot, "chat", "pause", "fr-chat"], [*chatbot, "chat", "resume", "fr-chat"]],
        ),
        (
            "chatbot chat skip fr-chat --question N",
            [[*chatbot, "chat", "skip", "fr-chat", "--question", str(n)] for n in range(1, 8)],
        ),
    ]
    alone = measure(commands, runs, env, tmp)
    on_pg = measure_postgresql(commands, runs, env, tmp)
    # The same commands while a worker runs: it serves them over its control socket.
    worker = subprocess.Popen(
        [*chatbot, "run"], env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not any(runtime.glob("chatbot/*.sock")) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not any(runtime.glob("chatbot/*.sock")):
            raise SystemExit("the worker never opened its control socket")
        served = measure(
            [c for c in commands if c[0].startswith("chatbot ") and "--help" not in c[0]],
            runs,
            env,
            tmp,
            " (worker running)",
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        _, log = worker.communicate(timeout=60)
    count = log.decode().count('"control.served"')
    print(f"the worker served {count} commands", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(runtime, ignore_errors=True)
    body = [
        "## Command start-up (`bench/bench_startup.py`)\n",
        f"Wall time of whole `chatbot` processes, {runs} runs each, on the applied example "
        "content. *On its own, SQLite*: no worker running; the command reads and writes the "
        "SQLite queue through `sqlite3` alone (`chatbot.db.direct`: no SQLAlchemy), reads the "
        "brief of the config that the first of them kept (`chatbot.cli.brief`: no pydantic, "
        "no YAML), and runs without cyclic garbage collection. *On its own, PostgreSQL*: the "
        "same commands on a PostgreSQL queue named by `$DATABASE_URL`, through psycopg alone "
        "(the same direct path; psycopg and a new server connection are most of it). "
        "*Worker running* (SQLite): "
        "a `chatbot run` worker on the same config serves the live controls and `status` over "
        "its control socket; the command loads click and the standard library only. Aim: live "
        "controls and `status` under 300 ms, `--help` under 200 ms. Read the figures against "
        "the floor: this machine's speed varies from hour to hour (a bare `python -c pass` "
        "has taken from 19 to 33 ms).\n",
        "| command | on its own, SQLite: median | slowest | PostgreSQL: median | slowest "
        "| worker running: median | slowest |",
        "|---|---|---|---|---|---|---|",
    ]

    def cells(row: tuple[float, float] | None) -> str:
        return f"{row[0]:.0f} ms | {row[1]:.0f} ms" if row else "– | –"

    for name, (median, worst) in alone.items():
        body.append(
            f"| `{name}` | {median:.0f} ms | {worst:.0f} ms | {cells(on_pg.get(name))} "
            f"| {cells(served.get(name))} |"
        )
    body.append(f"\nThe worker's log shows it served {count} of these commands.")
    write_section("startup", "\n".join(body))


if __name__ == "__main__":
    main()

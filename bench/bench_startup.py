"""How long a host waits for a command: wall time of whole `chatbot` processes.

Each command runs as a new process (as a host or a cron job runs it) against an applied copy of
the example content on SQLite, 15 times; the figure is the median (and the slowest). A bare
`python -c pass` is the floor. The live controls run against the example chat in a paused /
resumed / skipped cycle so that each run changes something.

    python bench/bench_startup.py            # writes docs/benchmarks.md
    python bench/bench_startup.py --quick    # 5 runs each
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5 runs per command instead of 15")
    args = parser.parse_args()
    runs = 5 if args.quick else 15
    tmp = Path(tempfile.mkdtemp(prefix="chatbot-bench-startup-"))
    shutil.copy(ROOT / "config.example.yaml", tmp / "config.yaml")
    shutil.copytree(ROOT / "content", tmp / "content")
    shutil.copytree(ROOT / "graphics", tmp / "graphics")
    env = {**os.environ, "CHATBOT_USER": "bench"}
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
    rows = []
    for name, argvs in commands:
        times = [timed(argvs[i % len(argvs)], env, tmp) for i in range(runs)]
        median, worst = statistics.median(times), max(times)
        print(f"{name:40} median {median:6.0f} ms, slowest {worst:6.0f} ms", flush=True)
        rows.append((name, median, worst))
    shutil.rmtree(tmp, ignore_errors=True)
    body = [
        "## Command start-up (`bench/bench_startup.py`)\n",
        f"Wall time of whole `chatbot` processes, {runs} runs each, on the applied example "
        "content (SQLite). Commands load only the modules they use; the schema check is one "
        "query against the newest revision the code knows. Aim: live controls and `status` "
        "under 300 ms, `--help` under 200 ms.\n",
        "| command | median | slowest |",
        "|---|---|---|",
    ]
    body += [f"| `{name}` | {median:.0f} ms | {worst:.0f} ms |" for name, median, worst in rows]
    write_section("startup", "\n".join(body))


if __name__ == "__main__":
    main()

"""How long a host's live control takes to take effect in a running worker.

A real `chatbot run` process posts to the loopback X server. The chat's questions are an hour
apart, so nothing goes out unless the host says so: each sample commits `chat now` (the same
function the CLI and the web panel call) and waits until the server has the question. The figure
is commit -> post created on the server: the worker's control poll (`worker.control_poll`), one
dispatch cycle and the HTTP request. Run on SQLite and PostgreSQL.

    python bench/bench_control.py            # 40 samples per database, writes docs/benchmarks.md
    python bench/bench_control.py --quick    # 10 samples
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_engine import drop_db, make_db  # noqa: E402
from bench.report import percentile, write_section  # noqa: E402
from chatbot.db.session import open_database  # noqa: E402
from chatbot.queue import live  # noqa: E402
from tests.xserver import XServer  # noqa: E402


def scenario(kind: str, samples: int, via: str) -> dict[str, float]:
    """``via``: "commit" (the function the web panel calls, seen at the worker's next poll)
    or "cli" (`chatbot chat now` as a new process, served by the worker's control socket)."""
    server = XServer().start()
    env = dict(os.environ)
    runtime = Path(tempfile.mkdtemp(prefix="cb-ctl-", dir="/tmp"))
    env["XDG_RUNTIME_DIR"] = str(runtime)
    env.update(server.env_for("LFP", server.add_user("libraryfreedom")))
    tmp = Path(tempfile.mkdtemp(prefix="chatbot-bench-control-"))
    url, db_name = make_db(kind, tmp)
    worker = None
    try:
        (tmp / "content" / "chats").mkdir(parents=True)
        (tmp / "config.yaml").write_text(
            f"timezone: UTC\ndatabase_url: {url}\npublisher: live\naccounts:\n"
            "  lfp: {platform: x, handle: '@libraryfreedom', env_prefix: LFP}\n"
            f"platforms:\n  x:\n    api_base_url: {server.url}\n"
        )
        start = datetime.now(UTC) + timedelta(hours=1)
        questions = "\n".join(f"  - text: Benchmark question {i}?" for i in range(samples))
        (tmp / "content" / "chats" / "bench.yaml").write_text(
            "id: bench\nhashtag: '#LFPchat'\nhost: lfp\n"
            f"starts_at: '{start.isoformat(timespec='seconds')}'\ninterval: 1h\n"
            f"questions:\n{questions}\n"
        )
        cli = [sys.executable, "-m", "chatbot", "--config", str(tmp / "config.yaml")]
        for args in (["apply"], ["approve", "bench", "--by", "bench"]):
            subprocess.run([*cli, *args], env=env, check=True, capture_output=True)
        worker = subprocess.Popen(
            [*cli, "run", "--log-level", "WARNING"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        db = open_database(url)
        time.sleep(3)  # let the worker start and settle into waiting for the first question
        if via == "cli" and not any(runtime.glob("chatbot/*.sock")):
            raise SystemExit("the worker did not open its control socket")
        latencies = []
        for number in range(1, samples + 1):
            committed = time.monotonic()
            if via == "cli":
                now = [*cli, "chat", "now", "bench", "--question", str(number), "--by", "bench"]
                subprocess.run(now, env=env, check=True, capture_output=True)
            else:
                with db.write() as session:
                    live.post_now(session, "bench", datetime.now(UTC), "bench", number=number)
            while len(server.tweets) < number:
                if time.monotonic() - committed > 10:
                    raise SystemExit(f"Q{number} did not go out within 10 s")
                time.sleep(0.002)
            latencies.append((time.monotonic() - committed) * 1000)
            time.sleep(0.3)  # samples at random phases of the worker's control poll
        db.dispose()
        return {
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "max": max(latencies),
            "samples": len(latencies),
        }
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
        server.stop()
        drop_db(db_name)
        shutil.rmtree(runtime, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 samples instead of 40")
    args = parser.parse_args()
    samples = 10 if args.quick else 40
    rows = []
    for via in ("commit", "cli"):
        for kind in ("sqlite", "postgresql"):
            result = scenario(kind, samples, via)
            print(
                f"{kind:10} {via:6} control -> posted: p50 {result['p50']:.0f} ms, "
                f"p99 {result['p99']:.0f} ms, max {result['max']:.0f} ms ({samples} samples)",
                flush=True,
            )
            rows.append((kind, via, result))
    body = [
        "## Live chat controls (`bench/bench_control.py`)\n",
        "Time from a host's `chat now` to the question existing on the loopback X server, "
        "with a real `chatbot run` worker. *Web panel*: the control committed by the "
        "function the web panel calls, seen at the worker's next poll (default "
        "`worker.control_poll` 250ms). *Terminal*: from starting `chatbot chat now` as a new "
        "process (start-up included) on the worker's machine, which the worker runs over its "
        "control socket and acts on at once. Pause, resume, skip and delay are the same kind "
        "of commit. Aim: p99 under 1 s.\n",
        "| database | from | samples | p50 | p99 | max |",
        "|---|---|---|---|---|---|",
    ]
    labels = {"commit": "web panel", "cli": "terminal"}
    for kind, via, r in rows:
        body.append(
            f"| {kind} | {labels[via]} | {r['samples']:.0f} | {r['p50']:.0f} ms | "
            f"{r['p99']:.0f} ms | {r['max']:.0f} ms |"
        )
    write_section("control", "\n".join(body))


if __name__ == "__main__":
    main()

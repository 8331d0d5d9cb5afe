"""What one post costs on each platform's publisher, and what a connected partner's token costs.

Publishing: each publisher posts N texts with a link, a hashtag and a mention (and every fifth
with a 1200x675 card) to its loopback server (X's v2 API, Mastodon's REST API, a Bluesky PDS),
over real HTTP. The figure is publish() wall time per post: client library, translation,
Mastodon's instance-limit check (read once), Bluesky's facets, blob upload and session.

Tokens: a connected X partner's access token on each database, read from the encrypted store
(the fast path, every post) and refreshed under the row lock (every two hours).

    python bench/bench_platforms.py           # 200 posts per platform, writes docs/benchmarks.md
    python bench/bench_platforms.py --quick   # 40 posts
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from PIL import Image  # noqa: E402

from bench.bench_engine import drop_db, make_db  # noqa: E402
from bench.report import percentile, write_section  # noqa: E402
from chatbot.connect import credentials  # noqa: E402
from chatbot.connect.crypto import TokenBox  # noqa: E402
from chatbot.db.session import open_database  # noqa: E402
from chatbot.platforms import TokenSet  # noqa: E402
from chatbot.publishers.base import Media, OutgoingPost, Publisher  # noqa: E402
from chatbot.publishers.bluesky import BlueskyPublisher  # noqa: E402
from chatbot.publishers.mastodon import MastodonPublisher  # noqa: E402
from chatbot.publishers.x import XPublisher  # noqa: E402
from tests.blueskyserver import BlueskyServer  # noqa: E402
from tests.mastodonserver import MastodonServer  # noqa: E402
from tests.xserver import CONSUMER_KEY, CONSUMER_SECRET, XServer  # noqa: E402

TEXT = "Q{n}: Café 📚 who decides? https://libraryfreedom.example/fr #LFPchat @masslib.bsky.social"


def publishers(card: Path) -> list[tuple[str, Publisher, object]]:
    x = XServer().start()
    user = x.add_user("libraryfreedom")
    masto = MastodonServer().start()
    bsky = BlueskyServer().start()
    bsky.add_account("masslib.bsky.social")
    return [
        (
            "x",
            XPublisher(
                "lfp",
                "@libraryfreedom",
                api_key=CONSUMER_KEY,
                api_secret=CONSUMER_SECRET,
                access_token=user.token,
                access_secret=user.secret,
                base_url=x.url,
            ),
            x,
        ),
        (
            "mastodon",
            MastodonPublisher(
                "lfp_masto",
                "@lfp",
                access_token=masto.add_account("lfp").token,
                instance_url=masto.url,
            ),
            masto,
        ),
        (
            "bluesky",
            BlueskyPublisher(
                "lfp_bsky",
                "@lfp.bsky.social",
                app_password=bsky.add_account("lfp.bsky.social").app_password,
                base_url=bsky.url,
            ),
            bsky,
        ),
    ]


def publishing(posts: int) -> list[str]:
    card = Path(tempfile.mkdtemp()) / "card.png"
    Image.new("RGB", (1200, 675), "#1b2a4a").save(card)
    rows = []
    for name, publisher, server in publishers(card):
        publisher.check_credentials()
        plain: list[float] = []
        with_card: list[float] = []
        start_all = time.perf_counter()
        for n in range(posts):
            media = (Media(card, "A navy card"),) if n % 5 == 0 else ()
            post = OutgoingPost(
                f"bench/q{n}", TEXT.format(n=n), media, scheduled_at=datetime.now(UTC)
            )
            start = time.perf_counter()
            publisher.publish(post)
            (with_card if media else plain).append((time.perf_counter() - start) * 1000)
        total = time.perf_counter() - start_all
        extra = ""
        if isinstance(publisher, BlueskyPublisher):
            extra = f"{publisher.logins} login"
        if isinstance(publisher, MastodonPublisher):
            extra = f"{server.requests_to('/api/v2/instance')} instance read"  # type: ignore[attr-defined]
        rows.append(
            f"| {name} | {posts} | {percentile(plain, 50):.1f} | {percentile(plain, 95):.1f} | "
            f"{percentile(with_card, 50):.1f} | {posts / total:.0f} | {extra} |"
        )
        print(rows[-1])
        publisher.close()
        server.stop()  # type: ignore[attr-defined]
    return rows


def tokens(kind: str, samples: int) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="chatbot-bench-tokens-"))
    url, name = make_db(kind, tmp)
    db = open_database(url)
    box = TokenBox([Fernet.generate_key().decode()])
    now = datetime(2026, 12, 3, 20, tzinfo=UTC)
    try:
        with db.write() as session:
            credentials.save(
                session,
                box,
                "masslib",
                "x",
                "oauth2",
                {"access_token": "a0", "refresh_token": "r0"},
                now + timedelta(hours=2),
                "bench",
                now,
            )
        fast, slow = [], []
        margin = timedelta(minutes=10)
        counter = iter(range(1, 10**9))

        def refresher(_token: str) -> TokenSet:
            n = next(counter)
            return TokenSet(f"a{n}", f"r{n}", clock + timedelta(hours=2))

        clock = now
        for _ in range(samples):
            start = time.perf_counter()
            credentials.access_token(db, box, "masslib", lambda: clock, margin, refresher)
            fast.append((time.perf_counter() - start) * 1000)
        for _ in range(samples):
            clock = clock + timedelta(hours=2)  # due for a refresh every time
            start = time.perf_counter()
            credentials.access_token(db, box, "masslib", lambda c=clock: c, margin, refresher)
            slow.append((time.perf_counter() - start) * 1000)
        row = (
            f"| {kind} | {percentile(fast, 50):.2f} | {percentile(fast, 95):.2f} | "
            f"{percentile(slow, 50):.2f} | {percentile(slow, 95):.2f} |"
        )
        print(row)
        return row
    finally:
        db.dispose()
        drop_db(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="40 posts instead of 200")
    args = parser.parse_args()
    posts = 40 if args.quick else 200
    publish_rows = publishing(posts)
    token_rows = [tokens(kind, posts) for kind in ("sqlite", "postgresql")]
    body = "\n".join(
        [
            "## Mastodon, Bluesky and connected tokens (`bench/bench_platforms.py`)",
            "",
            "Each publisher against its loopback server over real HTTP; texts with a link, a",
            "hashtag and a mention, every fifth post with a 1200x675 card (upload + alt text).",
            "",
            "| platform | posts | p50 ms | p95 ms | p50 ms with card | posts/s | once per run |",
            "|---|---|---|---|---|---|---|",
            *publish_rows,
            "",
            "A connected partner's X access token: read and decrypted (every post), and",
            "refreshed under the credential's row lock (every two hours; the token endpoint",
            "itself excluded).",
            "",
            "| database | read p50 ms | read p95 ms | refresh p50 ms | refresh p95 ms |",
            "|---|---|---|---|---|",
            *token_rows,
        ]
    )
    write_section("platforms", body)


if __name__ == "__main__":
    main()

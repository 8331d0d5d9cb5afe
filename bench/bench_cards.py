"""Card rendering benchmark: 200 mixed cards with Pillow (render and encode timed apart, cold and
cached), against rendering the same cards as HTML in headless Chromium with a warm browser (the
approach of many "og-image" tools). Needs Debian's chromium and `pip install playwright`
(Playwright drives /usr/bin/chromium; no browser download).

    python bench/bench_cards.py            # writes docs/benchmarks.md
"""

from __future__ import annotations

import html
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import percentile, write_section  # noqa: E402
from chatbot.cards.render import Renderer, encode  # noqa: E402

TEXTS = [
    "What does face surveillance mean for the people who use your library?",
    "Studies show face recognition misidentifies women, young people and people of color far "
    "more often. Who in your community carries that risk?",
    "Somerville, Springfield and Boston banned government use of face surveillance. What would "
    "a ban look like for your town or library system?",
    "Why?",
    "ALA opposes face recognition in libraries of all types. How can we hold vendors to that "
    "when we buy cameras, security or e-resources? Ask in writing, put it in the contract.",
    # The partners' readers' scripts, and emoji (issue 18): one card in three of the mix.
    "Quyền riêng tư trong thư viện: ai được xem dữ liệu của bạn? 📚🔒",
    "图书馆里的人脸识别：谁能看到你的数据？我们应该怎么做？",
    "الخصوصية حق للجميع في المكتبة. ماذا يعني التعرف على الوجوه لمجتمعك؟ #LFPchat",
    "Read with us 👩🏽‍💻 🏳️‍🌈 🇺🇸 tonight: who decides what your library records? ✊🏾",
]


def cards(count: int = 200) -> list[tuple[str, dict[str, str], str]]:
    out = []
    for i in range(count):
        text = TEXTS[i % len(TEXTS)] + ("" if i < len(TEXTS) else f" ({i})")
        platform = "x" if i % 2 == 0 else "bluesky"
        kind = ("question", "quote", "announcement")[i % 3]
        if kind == "question":
            fields = {
                "label": f"Q{i % 9 + 1}",
                "text": text,
                "footer": "#LFPchat · @libraryfreedom",
            }
        elif kind == "quote":
            fields = {
                "text": f"“{text}”",
                "attribution": "Library Freedom Project",
                "footer": "#BanFaceSurveillance",
            }
        else:
            fields = {
                "title": f"Face surveillance in libraries, part {i}",
                "when": "Thursday, December 3 · 8:00 PM EST",
                "footer": "#LFPchat",
            }
        out.append((kind, fields, platform))
    return out


def as_html(renderer: Renderer, kind: str, fields: dict[str, str], platform: str) -> str:
    """The same card as HTML/CSS: same canvas, boxes, colours and font files."""
    template = renderer.template(kind)
    width, height = template.size_for(platform)
    brand = renderer.brand
    fonts = "".join(
        f"@font-face{{font-family:card-{name};src:url('file://{path}')}}"
        for name, path in brand.fonts.items()
    )
    boxes = []
    for box in template.model.boxes:
        text = fields.get(box.name)
        if not text:
            continue
        x, y, w, h = box.box
        r, g, b = brand.color(box.color)
        boxes.append(
            f"<div style='position:absolute;left:{x * width}px;top:{y * height}px;"
            f"width:{w * width}px;height:{h * height}px;font-family:card-{box.font};"
            f"font-size:{box.size[1]}px;line-height:{box.line_spacing};color:rgb({r},{g},{b});"
            f"overflow:hidden'>{html.escape(text)}</div>"
        )
    r, g, b = brand.color(template.model.background)
    logo = ""
    if template.model.logo and brand.logo:
        lx, ly, lw, lh = template.model.logo
        logo = (
            f"<img src='file://{brand.logo}' style='position:absolute;left:{lx * width}px;"
            f"top:{ly * height}px;max-width:{lw * width}px;max-height:{lh * height}px'>"
        )
    return (
        f"<html><head><style>{fonts}body{{margin:0}}</style></head><body>"
        f"<div style='position:relative;width:{width}px;height:{height}px;"
        f"background:rgb({r},{g},{b})'>{''.join(boxes)}{logo}</div></body></html>"
    )


def pillow_cold(items: list[tuple[str, dict[str, str], str]], cache: Path) -> dict[str, float]:
    renderer = Renderer(ROOT / "graphics", cache)
    renderer.render(*items[0])  # load templates and fonts once, like a running worker
    render_ms, encode_ms = [], []
    for kind, fields, platform in items:
        t0 = time.perf_counter()
        card = renderer.render(kind, fields, platform)
        t1 = time.perf_counter()
        data = encode(card.image, platform, palette=card.flat)
        t2 = time.perf_counter()
        path = renderer.path_for(kind, fields, platform)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        render_ms.append((t1 - t0) * 1000)
        encode_ms.append((t2 - t1) * 1000)
    total = [r + e for r, e in zip(render_ms, encode_ms, strict=True)]
    return {
        "render": statistics.mean(render_ms),
        "encode": statistics.mean(encode_ms),
        "total": statistics.mean(total),
        "p95": percentile(total, 95),
        "per_s": 1000 / statistics.mean(total),
    }


def pillow_cached(items: list[tuple[str, dict[str, str], str]], cache: Path) -> dict[str, float]:
    renderer = Renderer(ROOT / "graphics", cache)
    times = []
    for kind, fields, platform in items:
        t0 = time.perf_counter()
        _, rendered = renderer.ensure(kind, fields, platform)
        times.append((time.perf_counter() - t0) * 1000)
        assert not rendered, "expected a cache hit"
    return {"total": statistics.mean(times), "per_s": 1000 / statistics.mean(times)}


def chromium(items: list[tuple[str, dict[str, str], str]]) -> dict[str, float] | None:
    chromium_path = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium_path is None:
        return None
    renderer = Renderer(ROOT / "graphics", Path(tempfile.mkdtemp()))
    times = []
    with sync_playwright() as play:
        browser = play.chromium.launch(
            executable_path=chromium_path,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        for kind, fields, platform in items:
            width, height = renderer.template(kind).size_for(platform)
            t0 = time.perf_counter()
            page.set_viewport_size({"width": width, "height": height})
            page.set_content(as_html(renderer, kind, fields, platform), wait_until="load")
            page.screenshot(type="png")
            times.append((time.perf_counter() - t0) * 1000)
        browser.close()
    return {
        "total": statistics.mean(times),
        "p95": percentile(times, 95),
        "per_s": 1000 / statistics.mean(times),
    }


def main() -> None:
    items = cards()
    cache = Path(tempfile.mkdtemp(prefix="chatbot-cards-"))
    cold = pillow_cold(items, cache)
    cached = pillow_cached(items, cache)
    browser = chromium(items)
    print(
        f"pillow cold: render {cold['render']:.1f} ms + encode {cold['encode']:.1f} ms = "
        f"{cold['total']:.1f} ms/card (p95 {cold['p95']:.1f}), {cold['per_s']:.1f} cards/s"
    )
    print(f"pillow cached: {cached['total']:.2f} ms/card, {cached['per_s']:.0f} cards/s")
    lines = [
        "## Graphic cards (`bench/bench_cards.py`)\n",
        f"{len(items)} mixed cards (question, quote, announcement; X 1600x900 and Bluesky "
        "1200x1200; 4 texts in 9 in Vietnamese, Chinese, Arabic or with colour emoji), one "
        "process, fonts and templates already loaded.\n",
        "| renderer | ms per card | p95 | cards per second |",
        "|---|---|---|---|",
        f"| Pillow, fresh: render (layout + draw) | {cold['render']:.1f} | | |",
        f"| Pillow, fresh: PNG encode | {cold['encode']:.1f} | | |",
        f"| Pillow, fresh: total | {cold['total']:.1f} | {cold['p95']:.1f} | {cold['per_s']:.1f} |",
        f"| Pillow, cached (unchanged card) | {cached['total']:.2f} | | {cached['per_s']:.0f} |",
    ]
    if browser is not None:
        ratio = browser["total"] / cold["total"]
        print(
            f"chromium: {browser['total']:.1f} ms/card (p95 {browser['p95']:.1f}), "
            f"{browser['per_s']:.1f} cards/s; Pillow is {ratio:.1f}x faster"
        )
        lines.append(
            f"| headless Chromium (warm browser, HTML card + screenshot) | "
            f"{browser['total']:.1f} | {browser['p95']:.1f} | {browser['per_s']:.1f} |"
        )
        lines.append(f"\nPillow is **{ratio:.1f}x** faster than Chromium per fresh card.")
    else:
        lines.append("\nChromium comparison skipped: install Debian's chromium and playwright.")
    write_section("cards", "\n".join(lines))


if __name__ == "__main__":
    main()

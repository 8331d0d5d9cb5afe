"""Graphic cards: templates, fitting, WCAG contrast, determinism, cache, golden images."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from chatbot.cards.contrast import contrast_ratio, parse_color
from chatbot.cards.layout import CardFitError, MissingGlyphs, direction_of
from chatbot.cards.render import Renderer, encode
from chatbot.errors import ContentError
from tests.conftest import ROOT, Project

GOLDEN = ROOT / "tests" / "golden"
QUESTION = {
    "label": "Q3",
    "text": "Studies show face recognition misidentifies women, young people and people of "
    "color far more often. Who in your community carries that risk?",
    "footer": "#LFPchat · @libraryfreedom",
}


@pytest.mark.parametrize(
    ("fg", "bg", "ratio"),
    [
        ("#777777", "#ffffff", 4.48),
        ("#767676", "#ffffff", 4.54),
        ("#000000", "#ffffff", 21.0),
        ("#f2c14e", "#3f1d5c", 8.12),
    ],
)
def test_known_contrast_ratios(fg: str, bg: str, ratio: float) -> None:
    assert round(contrast_ratio(parse_color(fg), parse_color(bg)), 2) == ratio


def test_777_on_white_fails_aa_for_normal_text_on_a_card(graphics: Path, tmp_path: Path) -> None:
    (graphics / "templates" / "grey.yaml").write_text(
        "name: grey\nbackground: '#ffffff'\nboxes:\n"
        "  - {name: text, box: [0.1, 0.1, 0.8, 0.3], size: [16, 30], color: '#777777'}\n"
        "  - {name: footer, box: [0.1, 0.6, 0.8, 0.3], font: bold, size: [200, 240], color: '#777777'}\n"
    )
    card = Renderer(graphics, tmp_path).render(
        "grey", {"text": "Small grey words on white", "footer": "Big"}, "x"
    )
    checks = {c.box: c for c in card.checks}
    assert checks["text"].ratio == 4.48 and not checks["text"].large
    assert checks["footer"].large  # 240 px on a 1600 px card shown 400 px wide: 60 px


def _split_template(graphics: Path) -> None:
    """Template ``split``: left half white, right half black; white text in each half."""
    image = Image.new("RGB", (1600, 900), "#000000")
    image.paste(Image.new("RGB", (800, 900), "#ffffff"), (0, 0))
    image.save(graphics / "split.png")
    (graphics / "templates" / "split.yaml").write_text(
        "name: split\nbackground_image: split.png\nboxes:\n"
        "  - {name: text, box: [0.55, 0.1, 0.4, 0.3], color: white}\n"
        "  - {name: footer, box: [0.05, 0.6, 0.4, 0.3], color: white}\n"
    )


def test_contrast_is_measured_on_the_image_under_the_text(graphics: Path, tmp_path: Path) -> None:
    # White text over the white half fails.
    _split_template(graphics)
    card = Renderer(graphics, tmp_path).render(
        "split", {"text": "on black", "footer": "on white"}, "x"
    )
    checks = {c.box: c.ratio for c in card.checks}
    assert checks == {"text": 21.0, "footer": 1.0}


def test_a_cards_checks_are_kept_for_the_next_review_until_the_card_changes(
    graphics: Path, tmp_path: Path
) -> None:
    """A review of unchanged content reads each card's measured contrast from beside the
    cache instead of rendering it again; any change to what shapes the card measures anew."""
    fields = {"text": "on black", "footer": "on white"}
    _split_template(graphics)
    renderer = Renderer(graphics, tmp_path / "cards")
    measured = {c.box: c.ratio for c in renderer.checks("split", fields, "x")}
    assert measured == {"text": 21.0, "footer": 1.0}
    (record,) = (tmp_path / "cards" / "checks").glob("split-*.json")
    # What is kept is what the next review reads: edited here, it is what comes back.
    record.write_text(record.read_text().replace("21.0", "20.5"))
    again = Renderer(graphics, tmp_path / "cards")
    assert {c.box: c.ratio for c in again.checks("split", fields, "x")}["text"] == 20.5
    # Other words, or another template, are another card: measured, not read.
    assert {c.box for c in again.checks("split", {"text": "other"}, "x")} == {"text"}
    template = graphics / "templates" / "split.yaml"
    template.write_text(template.read_text().replace("0.55, 0.1", "0.56, 0.1"))
    moved = Renderer(graphics, tmp_path / "cards")
    assert {c.box: c.ratio for c in moved.checks("split", fields, "x")}["text"] == 21.0
    # A record that cannot be read is measured again, not trusted.
    record.write_text("not json")
    assert {c.box: c.ratio for c in again.checks("split", fields, "x")}["text"] == 21.0


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("brand.yaml", "fonts/AtkinsonHyperlegible-Bold.ttf", "fonts/Missing.ttf"),
            "brand.yaml:12: fonts.bold: font file",
        ),
        (
            ("templates/question.yaml", "color: gold", "color: goldish"),
            "question.yaml:5: boxes[0].color: unknown colour 'goldish'; use a brand colour",
        ),
        (
            (
                "templates/question.yaml",
                "box: [0.06, 0.29, 0.88, 0.50]",
                "box: [0.5, 0.29, 0.88, 0.50]",
            ),
            "question.yaml:6: boxes[1].box: box [0.5, 0.29, 0.88, 0.5] reaches outside the canvas",
        ),
        (
            ("templates/question.yaml", "background: plum", "background: plumm"),
            "question.yaml:3: background: unknown colour 'plumm'",
        ),
    ],
)
def test_bad_template_errors(
    graphics: Path, tmp_path: Path, edit: tuple[str, str, str], expected: str
) -> None:
    name, old, new = edit
    path = graphics / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(ContentError) as info:
        Renderer(graphics, tmp_path).render("question", QUESTION, "x")
    assert expected in str(info.value)


def test_unknown_template_names_the_known_ones(renderer: Renderer) -> None:
    with pytest.raises(
        ContentError, match="no card template 'qestion'; templates: announcement, question, quote"
    ):
        renderer.render("qestion", QUESTION, "x")


def test_fitting_shrinks_to_fit_and_breaks_a_very_long_word(renderer: Renderer) -> None:
    short = {c.box: c.size_px for c in renderer.render("question", {"text": "Why?"}, "x").checks}
    long_text = " ".join(["surveillance"] * 22)[:280]
    fitted = {
        c.box: c.size_px for c in renderer.render("question", {"text": long_text}, "x").checks
    }
    assert short["text"] == 92 and 36 <= fitted["text"] < 92
    word = "Facesurveillanceinlibrariesisneveracceptable" * 2
    [(_, layout)] = renderer.layout("question", {"text": word}, "x")
    assert len(layout.lines) > 1 and "".join(layout.lines) == word


def test_text_that_cannot_fit_is_a_clear_error(renderer: Renderer) -> None:
    with pytest.raises(
        CardFitError,
        match="template question, box text: text does not fit even "
        "at the template's minimum size 36px",
    ):
        renderer.render("question", {"text": "word " * 400}, "x")


def test_text_the_font_cannot_draw_names_the_characters(renderer: Renderer) -> None:
    with pytest.raises(MissingGlyphs) as info:
        renderer.render("question", {"text": "Cuneiform 𒀀 tonight"}, "x")
    assert "no font of the brand kit can draw 1 character in all" in str(info.value)
    assert "U+12000" in str(info.value)
    assert "fonts.fallbacks in graphics/brand.yaml" in str(info.value)


def test_arabic_is_set_right_to_left_in_the_fallback_font(renderer: Renderer) -> None:
    fields = {"text": "الخصوصية حق للجميع في المكتبة #LFPchat"}
    [(_, layout)] = renderer.layout("question", fields, "x")
    assert layout.direction == "rtl"
    fonts = {run.font.path.name for line in layout.lines for run in layout.chain.runs(line, "rtl")}
    assert "NotoSansArabic-Bold.ttf" in fonts
    image = renderer.render("question", fields, "x").image
    x0, y0, x1, y1 = (round(0.06 * 1600), round(0.29 * 900), round(0.94 * 1600), round(0.79 * 900))
    region = image.crop((x0, y0, x1, y1))
    background = Image.new("RGB", region.size, renderer.brand.color("plum"))
    left, _, right, _ = ImageChops.difference(region, background).getbbox()  # type: ignore[misc]
    assert right > region.width * 0.97, "right-aligned: the text ends at the box's right edge"
    assert left > region.width * 0.05, "and does not start at its left edge"


def test_right_to_left_detection() -> None:
    assert direction_of("الخصوصية حق") == "rtl"
    assert direction_of("שלום עולם") == "rtl"
    assert direction_of("#LFPchat privacy") == "ltr"


def test_same_input_same_bytes_and_canvas_per_platform(renderer: Renderer) -> None:
    first = encode(renderer.render("question", QUESTION, "x").image, "x")
    second = encode(renderer.render("question", QUESTION, "x").image, "x")
    assert first == second
    assert Image.open(io.BytesIO(first)).size == (1600, 900)
    square = encode(renderer.render("question", QUESTION, "bluesky").image, "bluesky")
    assert Image.open(io.BytesIO(square)).size == (1200, 1200)
    assert len(square) < 2_000_000


def test_cache_hits_and_misses(renderer: Renderer) -> None:
    path, rendered = renderer.ensure("question", QUESTION, "x")
    assert rendered and path.is_file()
    stamp = path.stat().st_mtime_ns
    again, rendered_again = renderer.ensure("question", QUESTION, "x")
    assert (again, rendered_again) == (path, False) and path.stat().st_mtime_ns == stamp
    other, rendered_other = renderer.ensure("question", {**QUESTION, "label": "Q4"}, "x")
    assert rendered_other and other != path


def test_golden_question_card(renderer: Renderer) -> None:
    """Compared with a tolerance: glyph rasterisation differs slightly across Pillow versions."""
    image = renderer.render("question", QUESTION, "x").image.convert("RGB")
    golden_path = GOLDEN / "question-x.png"
    with Image.open(golden_path) as golden:
        diff = ImageChops.difference(image, golden.convert("RGB"))
    mean = sum(ImageStat.Stat(diff).mean) / 3
    assert mean < 1.5, f"card differs from {golden_path} (mean difference {mean:.2f})"


def test_check_reports_contrast_and_alt_text_problems(project: Project) -> None:
    grey = project.root / "graphics" / "templates" / "grey.yaml"
    grey.write_text(
        "name: grey\nbackground: white\nboxes:\n"
        "  - {name: text, box: [0.1, 0.1, 0.8, 0.3], size: [16, 30], color: '#777777'}\n"
    )
    path = project.campaign(
        "c",
        """
        id: c
        accounts: [lfp]
        posts:
          - text: Grey words
            card: grey
            alt: A white card with the words Grey words
            at: 2026-12-07 10:00
          - text: Our commentary on the resolution
            card: {template: quote, text: Libraries oppose face recognition, attribution: 'ALA Council, 2021'}
            alt: Libraries oppose face recognition
            at: 2026-12-08 10:00
    """,
    )
    result = project.run("check")
    assert result.exit_code == 1
    assert (
        f"{path}:4:11: error card.contrast: card 'grey', box text: contrast 4.48:1 is below "
        "4.5:1 for normal text (WCAG AA); change the colours"
    ) in result.stdout
    assert (
        f"{path}:8:11: warning card.alt-repeats-text: alt text only repeats the card's text; "
        "also describe the attribution"
    ) in result.stdout


def test_check_reports_text_that_does_not_fit(project: Project) -> None:
    project.campaign(
        "c",
        "id: c\naccounts: [lfp]\nposts:\n  - text: "
        + "word " * 300
        + "\n    card: question\n    alt: A card\n    at: 2026-12-07 10:00\n",
    )
    result = project.run("check")
    assert (
        "error card.fit: card 'question': template question, box text: text does not fit"
        in result.stdout
    )


def test_render_command_renders_then_uses_the_cache(example: Project, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = example.run("render", "--out", str(out))
    assert first.exit_code == 0, first.output
    # Twelve posts carry a card: three chat cards on each of X, Mastodon and Bluesky (each
    # platform's copy shows its own handle and is encoded for it) and three campaign cards,
    # of which the evergreen repeat of bill-of-rights shows the same card as the original.
    assert "11 rendered, 1 unchanged (cached)" in first.stdout
    assert len(list(out.glob("*.png"))) == 11
    second = example.run("render", "--out", str(out))
    assert "0 rendered, 12 unchanged (cached)" in second.stdout


def test_the_same_card_rendered_by_several_threads_at_once(graphics: Path, tmp_path: Path) -> None:
    """Send threads may need the same card at the same moment: none may fail."""
    import threading

    results: list[Path] = []
    errors: list[BaseException] = []

    def render() -> None:
        try:
            results.append(
                Renderer(graphics, tmp_path / "cards").ensure("question", QUESTION, "x")[0]
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=render) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(set(results)) == 1 and len(results) == 8
    assert list((tmp_path / "cards").glob("*.tmp")) == []


def test_a_write_that_fails_leaves_neither_half_a_file_nor_its_temporary(tmp_path: Path) -> None:
    """``write_atomically`` (cards, their checks and the kept posts): the old file or the whole
    new one, and nothing else left in the folder."""
    from chatbot.files import write_atomically

    target = tmp_path / "cache" / "card.png"
    write_atomically(target, b"first")
    write_atomically(target, b"second")
    assert target.read_bytes() == b"second"
    with pytest.raises(TypeError):
        write_atomically(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["card.png"]

"""Cards in every script the partners' readers read, colour emoji, and brand kits (issue 18).

Each sample is drawn, then checked in pixels: not blank, and not the missing-glyph rendering
(the same text in a font that lacks it draws boxes, ".notdef"). Chinese, Japanese, Korean and
emoji use fonts from Debian's packages, which .ci/run installs; without them those cases skip.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from chatbot.cards.fonts import (
    FontChain,
    FontFile,
    MissingGlyphs,
    clusters,
    cmap,
    face,
    visual_order,
)
from chatbot.cards.render import Renderer, encode
from chatbot.cards.template import system_font
from tests.conftest import Project

NEEDS_CJK = pytest.mark.skipif(
    system_font("NotoSansCJK-Bold.ttc") is None,
    reason="Debian's fonts-noto-cjk is not installed (apt-get install fonts-noto-cjk; .ci/run does)",
)
NEEDS_EMOJI = pytest.mark.skipif(
    system_font("NotoColorEmoji.ttf") is None,
    reason="Debian's fonts-noto-color-emoji is not installed (apt-get install "
    "fonts-noto-color-emoji; .ci/run does)",
)
SCRIPTS = [
    pytest.param("vi", "Quyền riêng tư trong thư viện", id="vietnamese"),
    pytest.param("pt", "Privacidade é um direito: ação já", id="portuguese"),
    pytest.param("ht", "Vi prive se yon dwa pou tout moun", id="haitian-creole"),
    pytest.param("el", "Η ιδιωτικότητα είναι δικαίωμα", id="greek"),
    pytest.param("ru", "Конфиденциальность — право каждого", id="cyrillic"),
    pytest.param("he", "פרטיות בספרייה היא זכות", id="hebrew"),
    pytest.param("ar", "الخصوصية حق للجميع", id="arabic"),
    pytest.param("zh-Hans", "图书馆里的人脸识别", id="simplified-chinese", marks=NEEDS_CJK),
    pytest.param("zh-Hant", "圖書館裡的人臉辨識", id="traditional-chinese", marks=NEEDS_CJK),
    pytest.param("ja", "図書館の顔認識について", id="japanese", marks=NEEDS_CJK),
    pytest.param("ko", "도서관의 얼굴 인식", id="korean", marks=NEEDS_CJK),
]
EMOJI = [
    pytest.param("📚🔒", id="emoji"),
    pytest.param("👩🏽‍💻", id="zwj-with-skin-tone"),
    pytest.param("👍🏽", id="skin-tone"),
    pytest.param("🏳️‍🌈", id="zwj-flag"),
    pytest.param("🇺🇸🇭🇹", id="flags"),
    pytest.param("#️⃣1️⃣", id="keycaps"),
]


def _line(chain: FontChain, text: str, size: int = 64) -> Image.Image:
    image = Image.new("RGB", (1400, 140), (0, 0, 0))
    rtl = any("\u0590" <= c <= "\u06ff" for c in text)
    chain.draw(image, (10, 20), text, size, (255, 255, 255), "rtl" if rtl else "ltr")
    return image


def _alone(font: FontFile, text: str, size: int = 64) -> Image.Image:
    image = Image.new("L", (size * 3, size * 2), 0)
    ImageDraw.Draw(image).text((5, 5), text, font=face(font, size), fill=255)
    return image


def _inked(image: Image.Image) -> int:
    return sum(1 for value in image.convert("L").get_flattened_data() if value > 64)


def _assert_drawn(chain: FontChain, text: str) -> Image.Image:
    """Drawn (not blank), and no cluster drawn as its font's missing-glyph box: each is
    compared with what that font draws for a character it has not (U+10FFFD, .notdef)."""
    drawn = _line(chain, text)
    assert _inked(drawn) > 400, "the text is drawn (not blank)"
    for run in chain.runs(text, "ltr"):
        if run.font == chain.emoji:
            continue  # a bitmap font: checked by colour instead
        notdef = _alone(run.font, "\U0010fffd")
        for cluster in clusters(run.text.replace(" ", ""))[:12]:
            glyph = _alone(run.font, cluster)
            difference = ImageStat.Stat(ImageChops.difference(glyph, notdef)).mean[0]
            assert difference > 1, f"{cluster!r} is drawn as {run.font.name}'s missing-glyph box"
    return drawn


@pytest.mark.parametrize(("lang", "text"), SCRIPTS)
def test_every_script_is_drawn_in_a_font_that_has_it(
    renderer: Renderer, lang: str, text: str
) -> None:
    chain = renderer.chain(renderer.brand, "bold")
    for run in chain.runs(text, "ltr"):
        assert all(ord(c) in cmap(run.font) for c in run.text if not c.isspace()), (
            f"{run.font.name} lacks part of {run.text!r}"
        )
    _assert_drawn(chain, text)
    fields = {"label": "Q1", "text": f"{text} #LFPchat", "footer": "#LFPchat"}
    first = encode(renderer.render("question", fields, "x").image, "x", palette=True)
    again = Renderer(renderer.graphics, renderer.cache_dir)
    assert encode(again.render("question", fields, "x").image, "x", palette=True) == first


@NEEDS_EMOJI
@pytest.mark.parametrize("text", EMOJI)
def test_colour_emoji_of_every_kind(renderer: Renderer, text: str) -> None:
    chain = renderer.chain(renderer.brand, "bold")
    runs = chain.runs(text, "ltr")
    assert [run.font for run in runs] == [renderer.brand.emoji]
    drawn = _assert_drawn(chain, text)
    # Colour: emoji pixels are neither black, white nor grey.
    coloured = sum(1 for r, g, b in drawn.get_flattened_data() if max(r, g, b) - min(r, g, b) > 60)
    assert coloured > 300
    # One sprite per emoji: each cluster is about one em wide, never a row of boxes.
    width = chain.length(text, 64, "ltr")
    assert 0.9 * 64 * len(clusters(text)) < width < 1.6 * 64 * len(clusters(text))


@NEEDS_EMOJI
def test_a_space_after_an_emoji_is_a_text_space(renderer: Renderer) -> None:
    """The emoji font's space is as wide as an emoji: a space stays in the text font."""
    chain = renderer.chain(renderer.brand, "bold")
    spaced = chain.length("📚 a", 64, "ltr") - chain.length("📚a", 64, "ltr")
    assert 5 < spaced < 30


@NEEDS_CJK
def test_one_line_falls_back_run_by_run_in_bidi_order(renderer: Renderer) -> None:
    chain = renderer.chain(renderer.brand, "bold")
    text = "Privacy 隐私 خصوصية פרטיות quyền"
    runs = chain.runs(text, "ltr")
    fonts = [run.font.path.name for run in runs if run.text.strip()]
    assert fonts == [
        "AtkinsonHyperlegible-Bold.ttf",
        "NotoSansCJK-Bold.ttc",
        "NotoSansArabic-Bold.ttf",
        "NotoSansHebrew-Bold.ttf",
        "NotoSans-Bold.ttf",  # the whole word, not only its ề
    ]
    # Two right-to-left words in a left-to-right line: Hebrew is drawn left of Arabic.
    shown = [run.text.strip() for run in visual_order(runs) if run.text.strip()]
    assert shown == ["Privacy", "隐私", "פרטיות", "خصوصية", "quyền"]


def test_a_latin_hashtag_stays_left_to_right_in_an_arabic_line(renderer: Renderer) -> None:
    chain = renderer.chain(renderer.brand, "bold")
    runs = chain.runs("الخصوصية حق #LFPchat", "rtl")
    shown = [run.text.strip() for run in visual_order(runs) if run.text.strip()]
    assert shown == ["#LFPchat", "الخصوصية حق"]
    assert [r.direction for r in runs if r.text.strip()] == ["rtl", "ltr"]


def test_a_text_no_font_can_draw_is_an_error_naming_the_characters(renderer: Renderer) -> None:
    text = "Hieroglyphs 𓀀𓀁𓀂𓀃𓀄𓀅𓀆 are not on the cards"
    with pytest.raises(MissingGlyphs) as info:
        renderer.render("question", {"text": text}, "x")
    message = str(info.value)
    assert "template question, box text: no font of the brand kit can draw 7 characters" in message
    assert "'𓀀' (U+13000)" in message and "(the first five)" in message
    assert "U+13005" not in message
    assert info.value.missing[:2] == ["𓀀", "𓀁"]


def test_a_named_font_this_machine_lacks_says_what_installs_it(
    graphics: Path, tmp_path: Path
) -> None:
    kit = graphics / "brand.yaml"
    kit.write_text(
        kit.read_text()
        .replace("NotoSansCJK-Regular.ttc#2", "NotoSansCJK-Absent.ttc")
        .replace("NotoSansCJK-Bold.ttc#2", "NotoSansCJK-Absent.ttc")
    )
    with pytest.raises(MissingGlyphs) as info:
        Renderer(graphics, tmp_path).render("question", {"text": "图书馆"}, "x")
    assert "not installed here: NotoSansCJK-Absent.ttc, from Debian's fonts-noto-cjk" in str(
        info.value
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('"system:../etc/passwd"', "system: takes a font's file name, never a path"),
        ("fonts/OFL.txt", "is not a font"),
        ("fonts/NotoSans-Bold.ttf#x", "write FILE#N"),
        ("../outside.ttf", "is outside"),
    ],
)
def test_bad_fallback_entries_are_clear_errors(
    graphics: Path, tmp_path: Path, entry: str, message: str
) -> None:
    from chatbot.errors import ContentError

    kit = graphics / "brand.yaml"
    kit.write_text(kit.read_text().replace("  fallbacks:\n", f"  fallbacks:\n    - {entry}\n"))
    with pytest.raises(ContentError) as info:
        Renderer(graphics, tmp_path)
    assert message in str(info.value) and "brand.yaml" in str(info.value)


# -- brand kits ----------------------------------------------------------------------------------


def _pixel(renderer: Renderer, fields: dict[str, str]) -> tuple[int, ...]:
    image = renderer.render("question", fields, "x").image.convert("RGB")
    return image.getpixel((5, 5))  # type: ignore[return-value]


def test_a_brand_kit_gives_its_own_colours_and_logo(renderer: Renderer) -> None:
    plain = {"label": "Q1", "text": "Who decides?", "footer": "#MassLibChat"}
    assert _pixel(renderer, plain) == renderer.brand.color("plum")
    branded = {**plain, "_brand": "masslib"}
    assert _pixel(renderer, branded) == (0x0B, 0x2D, 0x4F)
    assert renderer.cache_key("question", plain, "x") != renderer.cache_key(
        "question", branded, "x"
    )
    card = renderer.render("question", branded, "x")
    assert all(check.ratio >= 4.5 for check in card.checks)
    data = encode(card.image, "x", palette=card.flat)
    with Image.open(io.BytesIO(data)) as png:
        assert png.size == (1600, 900)


def test_every_shipped_brand_kit_passes_contrast(renderer: Renderer) -> None:
    kits = ["", *sorted(p.stem for p in (renderer.graphics / "brands").glob("*.yaml"))]
    assert "masslib" in kits
    for kit in kits:
        for template in ("question", "quote", "announcement"):
            fields = {
                "label": "Q1",
                "text": "Words",
                "footer": "#LFPchat",
                "title": "T",
                "when": "Thursday",
                "attribution": "ALA",
                "_brand": kit,
            }
            for check in renderer.render(template, fields, "bluesky").checks:
                assert check.ratio >= (3.0 if check.large else 4.5), (kit, template, check)


def test_a_chat_brand_wins_over_the_hosts_and_check_judges_its_contrast(project: Project) -> None:
    low = project.root / "graphics" / "brands" / "pale.yaml"
    low.write_text(
        (project.root / "graphics" / "brands" / "masslib.yaml")
        .read_text()
        .replace('plum: "#0b2d4f"', 'plum: "#cccccc"')
        .replace("brands/masslib-logo.png", "logo.png")
    )
    text = project.config_path.read_text().replace(
        'masslib: {platform: x, handle: "@masslib", env_prefix: MASSLIB}',
        'masslib: {platform: x, handle: "@masslib", env_prefix: MASSLIB, brand: masslib}',
    )
    project.config(text)
    path = project.chat(
        "c",
        """
        id: c
        hashtag: "#MassLibChat"
        host: masslib
        brand: pale
        starts_at: 2026-12-10 20:00
        interval: 10m
        questions:
          - text: Who decides?
            card: question
            alt: A card reading Q1 Who decides?
        """,
    )
    posts = [p for p in _load(project) if p.card]
    assert dict(posts[0].card_fields)["_brand"] == "pale"
    result = project.run("check")
    assert f"{path}:" in result.stdout
    assert "error card.contrast: card 'question', box text: contrast" in result.stdout


def test_the_hosts_brand_applies_and_a_missing_kit_is_named(project: Project) -> None:
    text = project.config_path.read_text().replace(
        'masslib: {platform: x, handle: "@masslib", env_prefix: MASSLIB}',
        'masslib: {platform: x, handle: "@masslib", env_prefix: MASSLIB, brand: nosuch}',
    )
    project.config(text)
    project.campaign(
        "c",
        """
        id: c
        accounts: [masslib]
        posts:
          - text: Libraries oppose face recognition
            card: question
            alt: A card reading Libraries oppose face recognition
            at: 2026-12-07 10:00
        """,
    )
    [post] = [p for p in _load(project) if p.card]
    assert dict(post.card_fields)["_brand"] == "nosuch"
    result = project.run("check")
    assert "error card.template: card 'question': no brand kit 'nosuch'" in result.stdout
    assert "brands/nosuch.yaml not found; kits: masslib" in result.stdout


def _load(project: Project) -> list:  # type: ignore[type-arg]
    from chatbot.content.load import load_content

    content = load_content(project.load_config())
    assert not content.errors, content.errors
    return list(content.posts)


def test_font_file_names_a_collection_face() -> None:
    assert FontFile(Path("x.ttc"), 2).name == "x.ttc#2"
    assert FontFile(Path("x.ttf")).name == "x.ttf"


def test_missing_characters_are_counted_over_every_line(renderer: Renderer) -> None:
    with pytest.raises(MissingGlyphs) as info:
        renderer.render("question", {"text": "First 𓀀 line\nsecond 𓀁𓀂 line"}, "x")
    assert "can draw 3 characters in all" in str(info.value)

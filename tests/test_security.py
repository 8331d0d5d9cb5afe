"""Hostile content: files that try to reach outside their folders, or to hang or exhaust the
tool. Each case was reproduced against the tool before it was fixed; every refusal names the
file and line, and changes nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import Project

BOMB = """id: bomb
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def campaign_with(image: str) -> str:
    return f"""
id: c
accounts: [lfp]
posts:
  - text: Read the resolution
    image: {image}
    alt: The resolution's text
    at: 2027-01-05 10:00
"""


def save_png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (320, 180), "#1d3557").save(path)
    return path


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ('"../../../../../../etc/passwd"', "points outside the content folder"),
        ("{env}", "is an absolute path"),
        ("images/link.png", "points outside the content folder"),
        ("images/notes.png", "is not an image Pillow can read"),
        ("images/nowhere.png", "not found in the content folder"),
        ("images/huge.png", "x takes at most 5 MB"),
        ("images/flyer.bmp", "is BMP; use PNG, JPEG, GIF or WebP"),
    ],
)
def test_an_image_must_be_a_real_image_inside_the_content_folder(
    project: Project, image: str, problem: str
) -> None:
    env = project.root / ".env"
    env.write_text("LFP_ACCESS_SECRET=never-upload-this\n")
    images = project.root / "content" / "images"
    images.mkdir()
    (images / "link.png").symlink_to(save_png(project.root / "outside.png"))
    (images / "notes.png").write_text("not an image at all\n")
    with (images / "huge.png").open("wb") as handle:  # a valid PNG padded past 5 MB
        Image.new("RGB", (10, 10)).save(handle, "PNG")
        handle.write(b"\0" * 5_100_000)
    Image.new("RGB", (32, 32)).save(images / "flyer.bmp", "BMP")
    path = project.campaign("c", campaign_with(image.format(env=env)))
    result = project.run("check")
    assert result.exit_code == 1
    assert f"{path}:5:1: error content: posts[0].image: " in result.output
    assert problem in result.output
    applied = project.run("apply")
    assert applied.exit_code == 1 and problem in applied.output
    assert not (project.root / "var" / "q.db").exists(), "nothing was written"
    assert "never-upload-this" not in result.output + applied.output


def test_an_image_inside_the_content_folder_is_accepted(project: Project) -> None:
    save_png(project.root / "content" / "images" / "flyer.png")
    project.campaign("c", campaign_with("images/flyer.png"))
    result = project.run("check")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("template", ["../../x", "/etc/passwd", "Question", "q/../question"])
def test_card_template_names_are_slugs_never_paths(project: Project, template: str) -> None:
    path = project.campaign(
        "c",
        f"""
        id: c
        accounts: [lfp]
        posts:
          - text: Privacy for all
            card: {{template: "{template}", text: Privacy}}
            alt: A card
            at: 2027-01-05 10:00
        """,
    )
    result = project.run("check")
    assert result.exit_code == 1
    assert f"{path}:5:" in result.output
    assert "a card template's name: lower-case letters, digits, - or _" in result.output


def test_the_renderer_refuses_a_template_name_that_is_a_path(project: Project) -> None:
    """Defence in depth: a name reaching the renderer from the queue is checked again."""
    from chatbot.cards.render import Renderer
    from chatbot.errors import ContentError

    outside = project.root / "x.yaml"
    outside.write_text("name: x\nboxes: [{name: text, box: [0, 0, 1, 1]}]\n")
    renderer = Renderer(project.root / "graphics", project.root / "var" / "cards")
    with pytest.raises(ContentError, match="is not a card template's name"):
        renderer.ensure("../../x", {"text": "hi"}, "x")
    assert not list(project.root.rglob("x-*.png"))


def test_a_brand_logo_that_is_not_an_image_is_a_clear_error(project: Project) -> None:
    graphics = project.root / "graphics"
    (graphics / "logo.png").write_text("<svg>not a png</svg>\n")
    brand = graphics / "brand.yaml"
    project.campaign(
        "c",
        """
        id: c
        accounts: [lfp]
        posts:
          - {text: Privacy for all, card: question, alt: A card, at: 2027-01-05 10:00}
        """,
    )
    result = project.run("check")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{brand}:" in result.output and "is not an image" in result.output
    brand.write_text(brand.read_text().replace("logo: logo.png", "logo: ../../../etc/passwd"))
    outside = project.run("check")
    assert outside.exit_code == 1 and "is outside" in outside.output


def test_a_yaml_alias_bomb_in_content_is_refused_at_once(project: Project) -> None:
    bomb = project.root / "content" / "chats" / "bomb.yaml"
    bomb.write_text(BOMB)
    started = time.monotonic()
    result = project.run("check")
    assert time.monotonic() - started < 30, "the bomb was walked"
    assert result.exit_code == 1
    assert f"{bomb}: error" not in result.output  # one line, naming the file:
    assert f"{bomb}:1:1: error content: the file expands to more than 200,000 values" in (
        result.output
    )


def test_a_yaml_alias_bomb_in_the_config_is_refused_at_once(project: Project) -> None:
    project.config_path.write_text(
        project.config_path.read_text() + BOMB.removeprefix("id: bomb\n")
    )
    result = project.run("status")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "expands to more than 200,000 values" in result.output


def test_a_plain_file_with_too_many_values_is_refused_too(project: Project) -> None:
    """No aliases, under 2 MB, but 250,000 values: the value limit holds without anchors too
    (such files are measured by a quicker walk, not skipped)."""
    flat = project.root / "content" / "chats" / "flat.yaml"
    flat.write_text("id: flat\nx: [" + ",".join(["1"] * 250_000) + "]\n")
    assert flat.stat().st_size < 2_000_000 and "&" not in flat.read_text()
    result = project.run("check")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{flat}:1:1: error content: the file expands to more than 200,000 values" in (
        result.output
    )


def test_deep_nesting_and_huge_files_are_refused_with_one_line(project: Project) -> None:
    deep = project.root / "content" / "chats" / "deep.yaml"
    deep.write_text("id: deep\nx: " + "[" * 5000 + "]" * 5000 + "\n")
    huge = project.root / "content" / "campaigns" / "huge.yaml"
    huge.write_text("id: huge\n# " + "x" * 2_100_000 + "\n")
    result = project.run("check")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{deep}:1:1: error content: values are nested" in result.output
    assert f"{huge}:1:1: error content: the file is 2.1 MB, over the 2 MB" in result.output

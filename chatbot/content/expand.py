"""What turning content into posts shares: hashtags, cards, where a text was written, times,
images and the keys of a post's copies. The jobs themselves are in ``chat`` (a chat's
timetable), ``campaign`` (slots, caps and evergreen repeats) and ``amplify`` (partners'
reposts and own words)."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import yaml

from chatbot.config import Config
from chatbot.content.located import located_error
from chatbot.content.media import ImageProblem, check_image
from chatbot.content.model import CardIn, Media, Source
from chatbot.timeutil import TimeFormatError, parse_local_datetime
from chatbot.yamlmarks import LocatedYaml, PathKey


def with_hashtag(text: str, hashtag: str | None) -> str:
    """Append ``hashtag`` unless the text already carries it (any letter case)."""
    if not hashtag:
        return text
    pattern = re.compile(rf"(?<!\w){re.escape(hashtag)}(?!\w)", re.IGNORECASE)
    if pattern.search(text):
        return text
    return f"{text.rstrip()} {hashtag}"


def card_of(
    card: str | CardIn | None, text: str, defaults: dict[str, str], brand: str | None = None
) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """The template name and the text of each box: defaults from the post, overrides from
    the card mapping; and the brand kit it is drawn in, if not the default (``_brand``, a
    field no box has: what a reviewer approves includes the kit)."""
    if card is None:
        return None, ()
    fields = {"text": text.strip(), **defaults}
    if brand:
        fields["_brand"] = brand
    name = card
    if isinstance(card, CardIn):
        name = card.template
        for key in ("text", "label", "attribution", "title", "when", "footer"):
            value = getattr(card, key)
            if value is not None:
                fields[key] = value.strip()
    return str(name), tuple(sorted((k, v) for k, v in fields.items() if v))


def source_of(doc: LocatedYaml, keys: PathKey) -> Source:
    node = doc.node(keys)  # once: each lookup walks the tree
    line = node.start_mark.line + 1 if node is not None else 1
    column = node.start_mark.column + 1 if node is not None else 1
    single_line = node is not None and node.start_mark.line == node.end_mark.line
    style = (node.style or "") if isinstance(node, yaml.ScalarNode) else None
    # Columns inside the text can be computed only for one-line plain or quoted scalars;
    # a quoted scalar's first character is one column after the quote.
    if style in ('"', "'"):
        column += 1
    return Source(doc.path, line, column, text_offset_ok=single_line and style in ("", '"', "'"))


def parse_at(doc: LocatedYaml, keys: PathKey, value: object, tz: ZoneInfo) -> datetime:
    try:
        return parse_local_datetime(value, tz)
    except TimeFormatError as exc:
        raise located_error(doc, keys, str(exc)) from None


def checked_image(
    doc: LocatedYaml, keys: PathKey, name: str | None, platform: str, config: Config
) -> str | None:
    """The post's image name once it is known to be a real image inside the content folder,
    within the platform's limit; otherwise an error at the image's line."""
    if name is None:
        return None
    try:
        check_image(config.content_dir, name, platform)
    except ImageProblem as exc:
        raise located_error(doc, (*keys, "image"), str(exc)) from None
    return name


def media_keys(keys: PathKey, value: object) -> PathKey:
    """Path of the text node: ``intro`` for a plain string, ``intro.text`` for a mapping."""
    return (*keys, "text") if isinstance(value, Media) else keys


def mirrored_key(key: str, account: str, first: bool) -> str:
    """The first account keeps the plain key; the same post on another platform's account is
    ``key+account``."""
    return key if first else f"{key}+{account}"

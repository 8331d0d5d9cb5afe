"""Reading content files and expanding them into posts, with errors that name file and line.

``ContentSet`` (what a read gives) lives in ``model``; it is named here too for its users."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chatbot.config import Config
from chatbot.content.amplify import amplify_posts
from chatbot.content.campaign import campaign_posts
from chatbot.content.chat import chat_posts
from chatbot.content.located import located_error
from chatbot.content.model import CampaignIn, ChatIn, ContentSet, PostSpec

__all__ = ["ContentSet", "load_content", "validate_model", "vision_file"]
from chatbot.errors import ContentError
from chatbot.yamlmarks import LocatedYaml, PathKey, load_yaml

M = TypeVar("M", bound=BaseModel)


def validate_model(doc: LocatedYaml, model: type[M]) -> tuple[M | None, list[ContentError]]:
    """Validate ``doc.data`` into ``model``; every pydantic error becomes a located error."""
    if not isinstance(doc.data, dict):
        return None, [ContentError("expected a mapping of fields (key: value)", doc.path, 1)]
    try:
        return model.model_validate(doc.data), []
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = _trim_union_loc(tuple(err["loc"]))
            errors.append(located_error(doc, loc, _explain(err)))
        return None, _dedupe(errors)


def _trim_union_loc(loc: tuple[Any, ...]) -> PathKey:
    """Pydantic puts union member names (``str``, ``Media``) in the path; drop them."""
    return tuple(
        k
        for k in loc
        if not (isinstance(k, str) and (k[:1].isupper() or k in ("str", "datetime", "int")))
    )


def _dedupe(errors: list[ContentError]) -> list[ContentError]:
    seen: set[str] = set()
    out = []
    for err in errors:
        if str(err) not in seen:
            seen.add(str(err))
            out.append(err)
    return out


def _explain(err: Any) -> str:
    kind = err["type"]
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return "unknown field; check the spelling (see README, Content files)"
    if kind == "missing":
        return "required field is missing"
    if kind == "string_pattern_mismatch":
        if "#" in str(err.get("ctx", {}).get("pattern", "")):
            return 'must be a single hashtag like "#LFPchat" (quote it in YAML)'
        if any(k in ("card", "template") for k in err.get("loc", ())):
            return (
                "a card template's name: lower-case letters, digits, - or _ (e.g. question), "
                "the name of a file in graphics/templates/, never a path"
            )
        return "must be lower-case letters, digits, - or _ (e.g. fr-chat)"
    if kind == "too_short":
        return "must not be empty"
    return msg


def vision_file(content_dir: Path) -> Path | None:
    """The organisation's vision rules (``vision.yaml`` in the content folder), if written."""
    vision = content_dir / "vision.yaml"
    return vision if vision.is_file() else None


def load_content(
    config: Config,
    paths: list[Path] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ContentSet:
    """Load every chat and campaign (or just ``paths``) and expand them into posts.

    Errors are collected rather than raised so ``chatbot check`` can report them all at once;
    commands that write refuse to proceed when ``errors`` is non-empty.
    """
    content = ContentSet()
    root = config.content_dir
    chat_files = sorted((root / "chats").glob("*.y*ml")) if (root / "chats").is_dir() else []
    campaign_files = (
        sorted((root / "campaigns").glob("*.y*ml")) if (root / "campaigns").is_dir() else []
    )
    if paths:
        wanted = {p.resolve() for p in _expand_paths(paths)}
        chat_files = [p for p in chat_files if p.resolve() in wanted]
        campaign_files = [p for p in campaign_files if p.resolve() in wanted]
        stray = wanted - {p.resolve() for p in chat_files + campaign_files}
        stray -= {(root / "vision.yaml").resolve()}
        for path in sorted(stray):
            content.errors.append(
                ContentError(
                    f"not a chat or campaign file; put chats in {root / 'chats'} and campaigns "
                    f"in {root / 'campaigns'}",
                    path,
                )
            )
    content.vision_path = vision_file(root)

    originals: list[tuple[LocatedYaml, Any, list[PostSpec]]] = []
    first_seen: dict[str, str] = {}  # id -> "path:line" where it was first used
    done, total = 0, len(chat_files) + len(campaign_files)
    for kind, files in (("chat", chat_files), ("campaign", campaign_files)):
        for path in files:
            if progress is not None:  # (what, done, out of): a bar on a terminal
                progress(f"reading {path.name}", done, total)
            done += 1
            try:
                doc = load_yaml(path, ContentError)
            except ContentError as exc:
                content.errors.append(exc)
                continue
            model_type: type[ChatIn] | type[CampaignIn] = ChatIn if kind == "chat" else CampaignIn
            model, errors = validate_model(doc, model_type)
            content.errors.extend(errors)
            if model is None:
                continue
            if model.id in first_seen:
                content.errors.append(
                    located_error(
                        doc,
                        ("id",),
                        f"id {model.id!r} is already used by {first_seen[model.id]}; "
                        "every chat and campaign needs its own id",
                    )
                )
                continue
            first_seen[model.id] = f"{path}:{doc.line(('id',)) or 1}"
            try:
                if isinstance(model, ChatIn):
                    content.chats[model.id] = model
                    posts = chat_posts(model, doc, config)
                else:
                    content.campaigns[model.id] = model
                    posts = campaign_posts(model, doc, config)
            except ContentError as exc:
                content.errors.append(exc)
                continue
            originals.append((doc, model, posts))
    for doc, model, posts in originals:
        try:
            reposts = amplify_posts(model, posts, doc, config)
        except ContentError as exc:
            content.errors.append(exc)
            reposts = []
        content.posts.extend(posts)
        content.posts.extend(reposts)
    content.posts.sort(key=lambda p: (p.scheduled_at, p.seq, p.key))
    return content


def _expand_paths(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(path.rglob("*.y*ml")))
        else:
            out.append(path)
    return out

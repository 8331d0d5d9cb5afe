"""Loading ``vision.yaml`` and running its rules (plus the built-in platform checks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

import chatbot.vision.rules  # noqa: F401 - registers the rule kinds
from chatbot.content.load import ContentSet, validate_model
from chatbot.content.located import located_error
from chatbot.errors import ContentError
from chatbot.settings import Platforms
from chatbot.vision.base import LEVELS, RULE_KINDS, Context, Finding, Rule, RuleOptions
from chatbot.yamlmarks import load_yaml

# Built-in platform checks that apply even without vision.yaml; a rule of the same kind in
# vision.yaml replaces the built-in one (so its level and message can be changed).
BUILTIN_RULES: list[dict[str, Any]] = [
    {"id": "platform.length", "kind": "length", "level": "error"},
    {"id": "platform.alt-text", "kind": "alt_text", "level": "error"},
    {"id": "card.contrast", "kind": "card_contrast", "level": "error"},
    {"id": "card.alt-repeats-text", "kind": "alt_repeats_card", "level": "warning"},
    {"id": "platform.near-duplicate", "kind": "near_duplicate", "level": "error"},
    {"id": "schedule.past", "kind": "past_time", "level": "warning"},
]


class VisionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[dict[str, Any]] = []


def _build(options: dict[str, Any]) -> Rule:
    kind = options.get("kind")
    cls = RULE_KINDS.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown rule kind {kind!r}; use one of {', '.join(sorted(RULE_KINDS))}")
    return cls(cls.Options.model_validate(options))


def load_rules(path: Path | None) -> tuple[list[Rule], list[ContentError]]:
    """Rules from ``path`` (or none) plus the built-ins it does not replace."""
    rules: list[Rule] = []
    errors: list[ContentError] = []
    if path is not None:
        try:
            doc = load_yaml(path, ContentError)
        except ContentError as exc:
            return [_build(o) for o in BUILTIN_RULES], [exc]
        model, errors = validate_model(doc, VisionFile)
        seen: set[str] = set()
        for index, raw in enumerate(model.rules if model else []):
            keys = ("rules", index)
            if not isinstance(raw, dict):
                errors.append(located_error(doc, keys, "each rule must be a mapping"))
                continue
            try:
                rule = _build(raw)
            except ValidationError as exc:
                err = exc.errors()[0]
                sub = tuple(err["loc"])
                msg = str(err["msg"]).removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = f"unknown option for a {raw.get('kind')} rule"
                elif err["type"] == "literal_error" and sub == ("level",):
                    msg = f"level must be one of {', '.join(LEVELS)}"
                errors.append(located_error(doc, (*keys, *sub), msg))
                continue
            except ValueError as exc:
                errors.append(located_error(doc, (*keys, "kind"), str(exc)))
                continue
            if rule.id in seen:
                errors.append(
                    located_error(doc, (*keys, "id"), f"rule id {rule.id!r} is used twice")
                )
                continue
            seen.add(rule.id)
            rules.append(rule)
    kinds = {r.options.kind for r in rules}
    builtins = [_build(o) for o in BUILTIN_RULES if o["kind"] not in kinds]
    return builtins + rules, errors


@dataclass
class Review:
    findings: list[Finding] = field(default_factory=list)
    errors: list[ContentError] = field(default_factory=list)
    # The findings of the rules that do not judge times against the clock: what the same
    # content gives at any time (``queue.kept`` keeps them).
    timeless: list[Finding] = field(default_factory=list, repr=False, compare=False)
    _by_post: dict[str, list[Finding]] | None = field(default=None, repr=False, compare=False)

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(f.level == "error" for f in self.findings)

    def for_post(self, key: str) -> list[Finding]:
        if self._by_post is None:
            index: dict[str, list[Finding]] = {}
            for finding in self.findings:
                index.setdefault(finding.post.key, []).append(finding)
            self._by_post = index
        return list(self._by_post.get(key, ()))

    def blocking(self, key: str) -> list[Finding]:
        return [f for f in self.for_post(key) if f.level == "error"]


def card_context(graphics: Path | None, cards_dir: Path | None) -> dict[str, Any]:
    """The renderer the card rules use, or why there is none."""
    if graphics is None:
        return {}
    from chatbot.cards.render import Renderer

    try:
        return {"renderer": Renderer(graphics, cards_dir or graphics / "cache")}
    except ContentError as exc:
        return {"renderer_error": str(exc)}


def review(
    content: ContentSet,
    platforms: Platforms | None = None,
    extra: dict[str, Any] | None = None,
    graphics: Path | None = None,
    cards_dir: Path | None = None,
    now: datetime | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    timeless: list[Finding] | None = None,
) -> Review:
    """Run every rule over ``content``; content errors are carried through, not raised.
    ``now``: judge times against it (posts already past); None leaves times alone.
    ``timeless``: what the rules that do not judge times found in this very content before
    (kept by ``queue.kept``): only the rules that judge times run again."""
    rules, rule_errors = load_rules(content.vision_path)
    if timeless is not None:
        rules = [rule for rule in rules if rule.judges_time]
    elif any(p.card for p in content.posts):
        extra = {**card_context(graphics, cards_dir), **(extra or {})}
    context = Context(platforms=platforms or Platforms(), extra=extra or {}, now=now)
    findings: list[Finding] = list(timeless or ())
    kept = list(findings)
    for done, rule in enumerate(rules):
        if progress is not None:  # (what, done, out of): a bar on a terminal
            progress(f"reviewing: {rule.id}", done, len(rules))
        found = list(rule.check_all(content.posts, context))
        findings.extend(found)
        if not rule.judges_time:
            kept.extend(found)
    findings.sort(key=lambda f: (f.path, f.line, f.column, LEVELS.index(f.level), f.rule_id))
    return Review(findings=findings, errors=[*content.errors, *rule_errors], timeless=kept)


__all__ = ["BUILTIN_RULES", "Review", "RuleOptions", "load_rules", "review"]

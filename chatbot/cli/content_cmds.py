"""check, plan, apply, approve, reject: content into the queue, and human review."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from chatbot.cli.app import App
from chatbot.cli.bulk import bulk
from chatbot.cli.progress import Steps
from chatbot.cli.tables import print_table
from chatbot.content.model import ContentSet
from chatbot.errors import ContentError, UserError
from chatbot.timeutil import zone

if TYPE_CHECKING:  # the queue (and SQLAlchemy), the loader and the rules load when used
    from chatbot.queue.kept import Kept
    from chatbot.queue.plan import Plan
    from chatbot.vision import Review

pass_app = click.make_pass_decorator(App)


def _error_line(err: ContentError) -> str:
    return f"{err.path}:{err.line or 1}:1: error content: {err.message}"


@dataclass
class Reviewed:
    """Content and its review, from the files or from what the last whole read kept of the
    same files (``kept``); ``digest``: the files' hash before they were read."""

    content: ContentSet
    review: Review
    costs: dict[str, float] = field(default_factory=dict)
    linked: dict[str, bool] | None = None
    digest: str | None = None


def _reviewed(
    app: App,
    strict: bool = True,
    paths: list[Path] | None = None,
    recalled: tuple[str, Kept | None] | None = None,
) -> Reviewed:
    """Content (all, or ``paths``) loaded and reviewed, with a progress bar on a terminal if it
    takes a while. ``strict``: content errors end the command before the review. The whole
    content is read once per version of its files (``queue.kept``); ``recalled``: the
    files' hash and what was kept for it, when the caller has looked already."""
    from chatbot.queue import kept

    digest, known = None, None
    if recalled is not None:
        digest, known = recalled
    elif paths is None:
        digest = kept.digest_of(app.config)
        known = kept.recall(app.config, digest)
    with Steps(app.err) as steps:
        content, result = kept.reviewed(
            app.config,
            digest,
            known,
            paths=paths,
            now=app.now(),
            progress=steps,
            strict=strict,
        )
    if known is not None:
        return Reviewed(content, result, known.costs, known.linked, digest)
    return Reviewed(content, result, {}, None, digest)


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="text: one finding a line; json: a list of objects for machines.",
)
@pass_app
@bulk
def check_cmd(app: App, paths: tuple[Path, ...], fmt: str) -> None:
    """Review content against the vision rules; exit 1 on any error."""
    reviewed = _reviewed(app, strict=False, paths=list(paths) or None)
    content, result = reviewed.content, reviewed.review
    if not paths and not content.chats and not content.campaigns and not content.errors:
        root = app.config.content_dir
        if not root.is_dir():
            raise UserError(
                f"content_dir {root} does not exist; create it (with chats/ and campaigns/) "
                f"or set content_dir in {app.config.path}"
            )
        app.err.print(
            f"nothing to check: no chat in {root / 'chats'}/*.yaml and no campaign in "
            f"{root / 'campaigns'}/*.yaml (content_dir in {app.config.path.name})",
            markup=False,
        )
    if fmt == "json":
        items = [
            {
                "path": e.path,
                "line": e.line or 1,
                "column": 1,
                "level": "error",
                "rule": "content",
                "message": e.message,
                "post": None,
                "account": None,
                "platform": None,
            }
            for e in result.errors
        ] + [f.as_dict() for f in result.findings]
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
    else:
        for err in result.errors:
            click.echo(_error_line(err))
        from chatbot.vision.base import format_findings

        for line in format_findings(result.findings):
            click.echo(line)
        errors = len(result.errors) + sum(f.level == "error" for f in result.findings)
        warnings = sum(f.level == "warning" for f in result.findings)
        suggestions = sum(f.level == "suggestion" for f in result.findings)
        click.echo(
            f"{len(content.posts)} posts checked: {errors} errors, {warnings} warnings, "
            f"{suggestions} suggestions",
            err=True,
        )
    if result.has_errors:
        raise SystemExit(1)


def _local(app: App, account: str, at: datetime) -> str:
    tz = zone(app.config.account_zone_name(account))
    return at.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")


def _print_plan(app: App, plan: Plan, verb: str) -> None:
    console = app.console
    symbols = {"add": "+", "change": "~", "remove": "-", "keep": "="}
    lines = []
    for change in plan.changes:
        at = change.spec.scheduled_at if change.spec else change.existing.scheduled_at  # type: ignore[union-attr]
        detail = ""
        if change.action == "change":
            detail = f" ({', '.join(change.fields)})"
            if change.voids_approval:
                detail += ": voids its approval"
        if change.note:
            detail += f": {change.note}"
        lines.append(
            f"{symbols[change.action]} {change.key:<40} {change.account:<10} "
            f"{_local(app, change.account, at)}{detail}"
        )
    if lines:
        # One write, past rich's rendering (plain text, no markup, never wrapped): a blast's
        # plan has tens of thousands of lines, and rich took 0.15 s to print 10,000 of them.
        console.file.write("\n".join(lines) + "\n")
        console.file.flush()
    columns = ("account", "add", "change", "remove", "kept (sent)", "queue cost (USD)")
    counts = plan.per_account()
    rows = [
        [
            account,
            *(str(counts.get(account, {}).get(action, 0)) for action in symbols),
            f"{plan.queue_cost.get(account, 0.0):.3f}",
        ]
        for account in sorted(set(counts) | set(plan.queue_cost))
    ]
    print_table(console, f"{verb} per account", [(c, c != "account") for c in columns], rows)
    total = sum(plan.queue_cost.values())
    console.print(
        f"{len(plan.of('add'))} to add, {len(plan.of('change'))} to change, "
        f"{len(plan.of('remove'))} to remove, {plan.unchanged} unchanged; "
        f"estimated API cost of the queued posts: ${total:.2f}",
        markup=False,
    )
    for spec in plan.past:
        console.print(
            f"note: {spec.key} is due {_local(app, spec.account, spec.scheduled_at)}, "
            "already past; the worker sends it only within the lateness window",
            markup=False,
        )


def _print_weeks(app: App, reviewed: Reviewed, plan: Plan) -> None:
    from chatbot.queue.plan import weekly_summary

    tz_name = app.config.settings.timezone
    weeks = weekly_summary(reviewed.content, app.now(), zone(tz_name), plan.costs, reviewed.linked)
    if not weeks:
        return
    columns = ("week of", "account", "posts", "reposts", "with links", "cost (USD)")
    rows = []
    for week in weeks:
        accounts = sorted(set(week.posts) | set(week.reposts))
        for index, account in enumerate(accounts):
            rows.append(
                [
                    f"{week.starts:%Y-%m-%d}" if index == 0 else "",
                    account,
                    str(week.posts.get(account, 0)),
                    str(week.reposts.get(account, 0)),
                    str(week.links.get(account, 0)),
                    f"{week.cost.get(account, 0.0):.3f}",
                ]
            )
    title = f"by week (weeks start Monday, {tz_name})"
    print_table(app.console, title, [(c, c not in ("week of", "account")) for c in columns], rows)


def _print_reads(app: App, content: ContentSet) -> None:
    """What following each chat's answers on X would cost: reading X is billed per post."""
    from chatbot.platforms import platform_named

    settings = app.config.settings
    price = settings.platforms.x.price_read
    for chat in content.chats.values():
        if not any(platform_named(app.config.platform_of(h)).reads_cost for h in chat.hosts):
            continue
        if not chat.follow.x:
            app.console.print(
                f"{chat.id}: its answers on X are not followed (follow: {{x: true}} follows them, "
                f"${price:g} a post)",
                markup=False,
            )
            continue
        cap = chat.follow.x_max_reads or settings.answers.x_max_reads
        app.console.print(
            f"{chat.id}: following its answers on X costs at most ${cap * price:.2f} "
            f"({cap} posts at ${price:g}; follow.x_max_reads caps it)",
            markup=False,
        )


def _blocking(result: Review) -> list[str]:
    from chatbot.vision.base import format_findings

    lines = [_error_line(e) for e in result.errors]
    lines += format_findings(f for f in result.findings if f.level == "error")
    return lines


@click.command("plan")
@pass_app
@bulk
def plan_cmd(app: App) -> None:
    """Show what applying content would change in the queue; writes nothing."""
    from chatbot.queue.plan import compute_plan

    reviewed = _reviewed(app)
    content, result = reviewed.content, reviewed.review
    with app.db.read() as session:
        plan = compute_plan(session, content, app.config, app.now(), reviewed.costs)
    _print_plan(app, plan, "plan")
    _print_weeks(app, reviewed, plan)
    _print_reads(app, content)
    blocking = _blocking(result)
    if blocking:
        app.err.print("apply would refuse: fix these errors first (chatbot check):", markup=False)
        for line in blocking:
            app.err.print(line, markup=False)
        raise SystemExit(1)


@click.command("apply")
@click.option("--by", default=None, help="Who is applying (recorded in the audit log).")
@pass_app
@bulk
def apply_cmd(app: App, by: str | None) -> None:
    """Write the plan to the queue in one transaction (a second run changes nothing)."""
    from chatbot.queue import kept
    from chatbot.queue.apply import apply_plan
    from chatbot.queue.plan import compute_plan

    # The same files as the last whole read, which had nothing an apply refuses: if the queue
    # already matches them, nothing is reviewed or written (a second apply loads no rules and
    # takes no write lock). Content with errors goes on to be refused, naming them.
    digest = kept.digest_of(app.config)
    known = kept.recall(app.config, digest)
    if known is not None and not known.refused:
        with app.db.read() as session:
            plan = compute_plan(session, known.content, app.config, app.now(), known.costs)
        if plan.is_empty:
            app.console.print(
                f"queue already matches the content ({plan.unchanged} posts); nothing written"
            )
            return
    reviewed = _reviewed(app, recalled=(digest, known))
    blocking = _blocking(reviewed.review)
    if blocking:
        raise UserError("nothing applied; fix these errors first:\n" + "\n".join(blocking))
    with app.db.write() as session:
        plan = apply_plan(
            session,
            reviewed.content,
            app.config,
            app.now(),
            by or app.default_actor(),
            reviewed.costs,
        )
    if plan.is_empty:
        app.console.print(
            f"queue already matches the content ({plan.unchanged} posts); nothing written"
        )
        return
    _print_plan(app, plan, "applied")


def _content_hashes(app: App) -> tuple[dict[str, str], Review]:
    reviewed = _reviewed(app)
    return {p.key: p.content_hash for p in reviewed.content.posts}, reviewed.review


@click.command("approve")
@click.argument("item")
@click.option("--by", required=True, help="The reviewer's name.")
@click.option("--note", default="", help="Why, or what was checked.")
@pass_app
@bulk
def approve_cmd(app: App, item: str, by: str, note: str) -> None:
    """Approve a chat, a campaign (by id) or one post (by key or number)."""
    from chatbot.queue.review import approve

    hashes, checks = _content_hashes(app)
    with app.db.write() as session:
        result = approve(
            session,
            item,
            by,
            note,
            app.now(),
            checks=checks,
            content_hashes=hashes,
            require_second_person=app.config.settings.review.require_second_person,
        )
    app.console.print(
        f"{item}: {len(result.changed)} posts approved by {by.strip()}"
        + (f", {len(result.unchanged)} already approved" if result.unchanged else ""),
        markup=False,
    )


@click.command("reject")
@click.argument("item")
@click.option("--by", required=True, help="The reviewer's name.")
@click.option("--note", required=True, help="What must change before it can be approved.")
@pass_app
def reject_cmd(app: App, item: str, by: str, note: str) -> None:
    """Reject a chat, a campaign or one post, with a note saying what to change."""
    from chatbot.queue.review import reject

    with app.db.write() as session:
        result = reject(session, item, by, note, app.now())
    app.console.print(f"{item}: {len(result.changed)} posts rejected by {by.strip()}", markup=False)

"""``chatbot render``: the cards content asks for, as PNG, with a progress bar."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from chatbot.cards.layout import CardFitError
from chatbot.cards.render import Renderer
from chatbot.cli.app import App
from chatbot.cli.bulk import bulk
from chatbot.content.load import load_content
from chatbot.errors import ContentError, UserError, UserErrors

pass_app = click.make_pass_decorator(App)


@click.command("render")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the PNG files (default: the cards_dir setting).",
)
@pass_app
@bulk
def render_cmd(app: App, paths: tuple[Path, ...], out_dir: Path | None) -> None:
    """Render the graphic cards that content asks for; unchanged cards come from the cache."""
    content = load_content(app.config, list(paths) or None)
    if content.errors:
        raise UserErrors(list(content.errors))
    renderer = Renderer(app.config.graphics_dir, out_dir or app.config.cards_dir)
    posts = [p for p in content.posts if p.card]
    failures: list[str] = []
    rendered = cached = 0
    columns = (TextColumn("rendering cards"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=app.err, transient=True) as progress:
        task = progress.add_task("cards", total=len(posts))
        for post in posts:
            try:
                path, fresh = renderer.ensure(post.card or "", post.fields, post.platform)
            except (CardFitError, ContentError) as exc:
                failures.append(f"{post.source.path}:{post.source.line}: {post.key}: {exc}")
            else:
                rendered += fresh
                cached += not fresh
                app.console.print(f"{post.key}: {path}", markup=False)
            progress.advance(task)
    app.console.print(f"{rendered} rendered, {cached} unchanged (cached)", markup=False)
    if failures:
        raise UserError("cards that could not be rendered:\n" + "\n".join(failures))

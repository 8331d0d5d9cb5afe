"""The short commands' config brief (``chatbot.cli.brief``): used only for the very bytes and
code that validated it, never holding a URL that could carry a password."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from freezegun import freeze_time

from chatbot.cli import brief as briefs
from chatbot.cli.brief import VALIDATED_BY, Brief, brief_key, keep_brief, kept_brief
from tests.conftest import ROOT, Project


def _kept_file(config: Path) -> Path:
    return briefs._file(config.resolve())


def _applied(example: Project) -> Project:
    with freeze_time("2026-11-23 12:00:00"):
        assert example.run("apply", "--by", "maty").exit_code == 0
        assert example.run("approve", "fr-chat", "--by", "maty").exit_code == 0
    return example


def _run(project: Project, *args: str) -> str:
    with freeze_time("2026-12-04 01:30:00"):  # the example chat is on
        result = project.run(*args, "--by", "alison")
    assert result.exit_code == 0, result.output
    return result.output


def test_a_short_command_keeps_a_brief_and_the_next_one_uses_it(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _applied(example)
    assert kept_brief(project.config_path.resolve()) is None
    _run(project, "chat", "pause", "fr-chat")
    kept = kept_brief(project.config_path.resolve())
    assert kept is not None
    assert kept.database_setting == "sqlite:///var/chatbot.db"
    assert kept.resume == "shift" and kept.warn_before == 86400.0
    assert kept.account_zone_name("ifc") == "America/Chicago"
    assert kept.account_zone_name("lfp") == "America/New_York"  # the config's own zone
    assert kept.label("bluesky") == "Bluesky"
    path = _kept_file(project.config_path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700

    def no_validation(*_: object) -> None:
        raise AssertionError("validated the config again")

    monkeypatch.setattr("chatbot.config.load_config", no_validation)
    assert "resumed fr-chat" in _run(project, "chat", "resume", "fr-chat")
    with freeze_time("2026-12-04 01:30:00"):
        assert project.run("status").exit_code == 0


def test_an_edited_config_is_validated_again_and_its_new_values_used(example: Project) -> None:
    project = _applied(example)
    _run(project, "chat", "pause", "fr-chat")
    assert kept_brief(project.config_path.resolve()) is not None
    text = project.config_path.read_text()
    project.config(text + "\nlive:\n  resume: keep\n")
    assert kept_brief(project.config_path.resolve()) is None  # other bytes, another key
    assert "keeping the original times" in _run(project, "chat", "resume", "fr-chat")
    kept = kept_brief(project.config_path.resolve())
    assert kept is not None and kept.resume == "keep"

    # A mistake in the edited config is reported as ever, not hidden by the brief kept before.
    project.config(text + "\nlive:\n  resume: later\n")
    with freeze_time("2026-12-04 01:30:00"):
        result = project.run("chat", "pause", "fr-chat", "--by", "alison")
    assert result.exit_code == 1
    assert "live.resume" in result.output and "Traceback" not in result.output


def test_a_damaged_or_foreign_brief_is_not_used(example: Project, tmp_path: Path) -> None:
    project = _applied(example)
    _run(project, "chat", "pause", "fr-chat")
    path = _kept_file(project.config_path)
    path.write_text("{not json")
    assert kept_brief(project.config_path.resolve()) is None
    _run(project, "chat", "resume", "fr-chat")  # validated again, and kept again
    assert kept_brief(project.config_path.resolve()) is not None

    kept = json.loads(path.read_text())
    kept["key"] = "0" * 64  # another code's or another file's
    path.write_text(json.dumps(kept))
    assert kept_brief(project.config_path.resolve()) is None

    path.parent.chmod(0o755)  # a directory others could write into is not trusted
    try:
        _run(project, "chat", "pause", "fr-chat")
        assert kept_brief(project.config_path.resolve()) is None
    finally:
        path.parent.chmod(0o700)


def test_a_database_url_that_could_carry_a_password_is_never_written(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("timezone: UTC\n")
    brief = Brief(
        path=config,
        database_setting="postgresql+psycopg://chatbot:s3cret@db.example.org/queue",
        lock_wait=15.0,
        resume="shift",
        warn_before=3600.0,
        timezone="UTC",
    )
    keep_brief(brief, brief_key(config))
    assert not _kept_file(config).exists()
    without = "postgresql+psycopg://chatbot@db.example.org/queue"  # libpq finds the password
    keep_brief(Brief(**{**brief.__dict__, "database_setting": without}), brief_key(config))
    assert kept_brief(config) is not None
    with_options = f"{without}?password=s3cret"
    keep_brief(Brief(**{**brief.__dict__, "database_setting": with_options}), brief_key(config))
    kept = kept_brief(config)
    assert kept is not None and kept.database_setting == without
    assert "s3cret" not in _kept_file(config).read_text()


def test_a_config_edited_while_it_was_validated_keeps_no_brief(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("timezone: UTC\n")
    key = brief_key(config)  # read before validating
    config.write_text("timezone: Europe/Paris\n")  # edited meanwhile
    keep_brief(Brief(config, "sqlite:///q.db", 15.0, "shift", 3600.0, "UTC"), key)
    assert kept_brief(config) is None
    assert not _kept_file(config).exists()


def test_the_key_covers_every_module_that_validates_a_config() -> None:
    """A new version of any module that loading a config runs is another key: the list the key
    is made of is what loading a config imports of the package."""
    probe = (
        "import json, sys\n"
        "from chatbot.config import load_config\n"
        f"load_config({str(ROOT / 'config.example.yaml')!r})\n"
        "import chatbot.cli.brief\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('chatbot.'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    loaded = {
        m.removeprefix("chatbot.").replace(".", "/") for m in json.loads(out) if m != "chatbot"
    }
    # Loaded by the probe itself or for naming things, not for deciding what a config says.
    outside = {"cli", "cli/remote", "cli/app"}
    files = {name.removesuffix("/__init__.py").removesuffix(".py") for name in VALIDATED_BY}
    assert loaded - outside == files


def test_a_change_to_validating_code_is_another_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("timezone: UTC\n")
    brief = Brief(config, "sqlite:///q.db", 15.0, "shift", 3600.0, "UTC")
    keep_brief(brief, brief_key(config))
    assert kept_brief(config) == brief
    package = tmp_path / "package"
    for name in VALIDATED_BY:
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_bytes((briefs.PACKAGE / name).read_bytes())
    monkeypatch.setattr(briefs, "PACKAGE", package)
    briefs._code.cache_clear()
    try:
        assert kept_brief(config) == brief  # the same code: the same key
        settings = package / "settings.py"
        settings.write_text(settings.read_text() + "\n# a new default\n")
        briefs._code.cache_clear()
        assert kept_brief(config) is None
    finally:
        briefs._code.cache_clear()

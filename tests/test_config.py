"""Configuration: every error path is one line naming the file, line and key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chatbot.config import credentials, find_config_path, load_config
from chatbot.errors import ConfigError
from tests.conftest import Project, write


def _load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    return str(info.value)


def test_defaults_and_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    path = write(tmp_path / "c.yaml", "accounts: {a: {platform: dryrun}}\n")
    config = load_config(str(path))
    assert config.settings.timezone == "UTC"
    assert config.settings.publisher == "dryrun"
    assert config.settings.platforms.x.api_base_url == "https://api.x.com"
    assert config.settings.platforms.x.price_post_with_link == 0.20
    assert config.database_url == f"sqlite:///{tmp_path / 'var' / 'chatbot.db'}"
    assert config.content_dir == tmp_path / "content"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("timezon: UTC\n", "c.yaml:1: timezon: unknown setting"),
        ("timezone: Mars/Olympus\n", "c.yaml:1: timezone: unknown time zone 'Mars/Olympus'"),
        (
            "accounts:\n  lfp:\n    platform: twiter\n",
            "c.yaml:3: accounts.lfp.platform: unknown platform 'twiter'; use one of x, mastodon, bluesky, dryrun",
        ),
        (
            "accounts:\n  lfp:\n    platform: dryrun\n    timezone: Nowhere/Here\n",
            "c.yaml:4: accounts.lfp.timezone: unknown time zone 'Nowhere/Here'",
        ),
        (
            "accounts:\n  lfp:\n    platform: dryrun\n    monthly_budget_usd: lots\n",
            "c.yaml:4: accounts.lfp.monthly_budget_usd: Input should be a valid number",
        ),
        (
            "platforms:\n  x:\n    max_length: many\n",
            "c.yaml:3: platforms.x.max_length: Input should",
        ),
        (
            "platforms:\n  x:\n    api_url: http://x\n",
            "c.yaml:3: platforms.x.api_url: unknown setting",
        ),
        ("lateness:\n  chat: soon\n", "c.yaml:2: lateness.chat: 'soon' is not a duration"),
        ("accounts:\n  lfp:\n    handle: x\n", "c.yaml:3: accounts.lfp.platform: required setting"),
        (
            "accounts:\n  lfp:\n    platform: x\n",
            "c.yaml:3: accounts.lfp.env_prefix: a x account needs env_prefix",
        ),
        ("timezone: [UTC\n", "c.yaml:2: invalid YAML"),
        ("- just\n- a list\n", "c.yaml:1: the config must be a mapping"),
        ("timezone: UTC\ntimezone: UTC\n", "c.yaml:2: invalid YAML: duplicate key 'timezone'"),
    ],
)
def test_config_errors_name_file_line_and_key(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    path = write(tmp_path / "c.yaml", yaml_text)
    message = _load_error(path)
    assert expected in message
    assert "\n" not in message
    assert str(tmp_path) in message


def test_config_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHATBOT_CONFIG", raising=False)
    write(tmp_path / "config.example.yaml", "{}\n")
    assert find_config_path(None, tmp_path).name == "config.example.yaml"
    write(tmp_path / "config.yaml", "{}\n")
    assert find_config_path(None, tmp_path).name == "config.yaml"
    other = write(tmp_path / "elsewhere.yaml", "{}\n")
    monkeypatch.setenv("CHATBOT_CONFIG", str(other))
    assert find_config_path(None, tmp_path) == other.resolve()
    assert find_config_path(str(tmp_path / "config.yaml"), tmp_path).name == "config.yaml"
    monkeypatch.setenv("CHATBOT_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="CHATBOT_CONFIG not found"):
        find_config_path(None, tmp_path)


def test_no_config_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHATBOT_CONFIG", raising=False)
    with pytest.raises(ConfigError, match=r"copy config\.example\.yaml"):
        find_config_path(None, tmp_path)


def test_dotenv_beside_config_loads_but_real_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("T1_API_KEY", "T1_API_SECRET", "T1_ACCESS_TOKEN", "T1_ACCESS_SECRET"):
        monkeypatch.delenv(name, raising=False)
    write(tmp_path / ".env", "T1_API_KEY=from-dotenv\nT1_API_SECRET=s\nT1_ACCESS_TOKEN=t\n")
    monkeypatch.setenv("T1_API_SECRET", "from-environment")
    path = write(tmp_path / "c.yaml", "accounts: {a: {platform: x, env_prefix: t1}}\n")
    config = load_config(str(path))
    with pytest.raises(ConfigError, match="set T1_ACCESS_SECRET"):
        credentials("a", config.settings.accounts["a"])
    monkeypatch.setenv("T1_ACCESS_SECRET", "z")
    creds = credentials("a", config.settings.accounts["a"])
    assert creds["api_key"] == "from-dotenv"
    assert creds["api_secret"] == "from-environment"
    for name in ("T1_API_KEY", "T1_ACCESS_TOKEN"):
        os.environ.pop(name, None)


def test_database_url_from_environment_wins(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@127.0.0.1/x")
    assert project.load_config().database_url == "postgresql+psycopg://u@127.0.0.1/x"


def test_cli_reports_config_error_without_traceback(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from chatbot.cli import cli

    path = write(tmp_path / "c.yaml", "timezone: Mars/Olympus\n")
    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "timezone: unknown time zone 'Mars/Olympus'" in result.output

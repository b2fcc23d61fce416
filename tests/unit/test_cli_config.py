"""`hip3term config check` and the shared CLI settings helpers."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import SecretStr

from hip3term.cli.common import cli_overrides, settings_from_cli
from hip3term.cli.config_cmd import render_toml
from hip3term.config import load_settings
from hip3term.errors import ConfigError

# Arbitrary 32-byte hex strings used as "key material"; they must never be printed.
SECRET = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
OTHER_SECRET = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def hip3term(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a fresh interpreter with only `env` as HIP3TERM_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("HIP3TERM_")}
    return subprocess.run(
        [sys.executable, "-m", "hip3term", *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


@pytest.fixture
def no_hip3term_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("HIP3TERM_"):
            monkeypatch.delenv(name)


def test_config_check_prints_sources_and_valid_toml(tmp_path: Path) -> None:
    config = tmp_path / "my.toml"
    config.write_text("[risk]\nmax_cumulative_loss = 7.5\n[strategy.params]\nalpha = 0.05\n")
    result = hip3term(
        tmp_path,
        *("config", "check", "--config", str(config), "--venue", "testnet"),
        *("--market", "xyz:TSLA"),
        HIP3TERM_SIM__SEED="9",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    first = result.stdout.splitlines()[0]
    assert first.startswith("# sources (later wins): defaults ")
    assert first.endswith(
        f"default.toml, file {config}, environment HIP3TERM_SIM__SEED, flag --venue, flag --market"
    )
    assert "# orders: withheld (observe only" in result.stdout
    printed = tomllib.loads(result.stdout)
    assert printed["venue"]["name"] == "testnet"
    assert printed["market"] == {"dex": "xyz", "coin": "TSLA"}
    assert printed["sim"]["seed"] == 9
    # The printed configuration is itself a valid config that loads to the same settings.
    again = tmp_path / "again.toml"
    again.write_text(result.stdout)
    expected = load_settings(
        config,
        {"venue.name": "testnet", "market.coin": "xyz:TSLA"},
        env={"HIP3TERM_SIM__SEED": "9"},
    )
    assert load_settings(again, env={}) == expected


def test_config_check_never_prints_keys(tmp_path: Path) -> None:
    config = tmp_path / "secret.toml"
    config.write_text(f'[account.agent_key]\nprivate_key = "0x{SECRET}"\n')
    result = hip3term(
        tmp_path,
        *("config", "check", "--config", str(config)),
        HIP3TERM_AGENT_KEY=OTHER_SECRET,
        HIP3TERM_KEYSTORE_PASSWORD="hunter2-password",
    )
    assert result.returncode == 0, result.stderr
    for secret in (SECRET, OTHER_SECRET, "hunter2-password"):
        assert secret not in result.stdout + result.stderr
    assert 'private_key = "**********"' in result.stdout
    assert "HIP3TERM_AGENT_KEY" not in result.stdout.splitlines()[0]


def test_config_check_never_prints_key_from_env(tmp_path: Path) -> None:
    result = hip3term(tmp_path, "config", "check", HIP3TERM_ACCOUNT__AGENT_KEY__PRIVATE_KEY=SECRET)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert 'private_key = "**********"' in result.stdout


def test_bad_config_exits_2_naming_file_line_field_and_rule(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[executor]\ntick_ms = 100\ninflight_limit = 0\n")
    result = hip3term(tmp_path, "config", "check", "--config", str(config))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"hip3term: configuration error: {config}, line 3: executor.inflight_limit = 0: "
        "must be greater than 0\n"
    )


def test_syntax_error_exits_2_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text('[venue]\nname = "sim\n')
    result = hip3term(tmp_path, "config", "check", "--config", str(config))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"hip3term: configuration error: {config}, line 2, column 12: TOML syntax error: "
    )


def test_bad_key_in_config_exits_2_without_echoing_it(tmp_path: Path) -> None:
    config = tmp_path / "key.toml"
    config.write_text(f'[account.agent_key]\nprivate_key = "0x{SECRET[:-2]}"\n')
    result = hip3term(tmp_path, "config", "check", "--config", str(config))
    assert result.returncode == 2
    assert SECRET[:-2] not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "account.agent_key.private_key" in result.stderr


@pytest.mark.parametrize(("args", "env", "expected"), [
    (("--config", "missing.toml"), {}, "config file missing.toml does not exist"),
    (("--venue", "moon"), {}, '--venue: venue.name = "moon": must be one of'),
    (("--dex", "XYZ"), {}, '--dex: market.dex = "XYZ": must be'),
    (("--ws-url", "http://h/ws"), {}, "--ws-url: venue.ws_url"),
    ((), {"HIP3TERM_VENUE_NAME": "x"}, "environment variable HIP3TERM_VENUE_NAME: not a setting"),
    ((), {"HIP3TERM_VENUE__LIVE": "true"}, "only switched on from the command line (--live)"),
])  # fmt: skip
def test_config_check_errors_exit_2(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    result = hip3term(tmp_path, "config", "check", *args, **env)
    assert result.returncode == 2
    assert result.stderr.startswith("hip3term: configuration error: ")
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_settings_from_cli_layers_flags_and_names_them(
    tmp_path: Path, no_hip3term_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIP3TERM_MARKET__COIN", "NVDA")
    config = tmp_path / "c.toml"
    config.write_text('[market]\ncoin = "TSLA"\n[sim]\nport = 8080\n')
    settings = settings_from_cli(config, venue="testnet", dex="flx", live=False, observe=None)
    assert (settings.venue.name, settings.market.name, settings.sim.port) == (
        "testnet",
        "flx:NVDA",
        8080,
    )
    assert not settings.venue.live
    with pytest.raises(ConfigError, match=r"^--port: sim\.port = 70000: "):
        settings_from_cli(None, port=70000)


def test_cli_overrides_drop_unset_flags_and_reject_unknown_ones() -> None:
    overrides, labels = cli_overrides(venue=None, live=False, market="TSLA", observe=True)
    assert overrides == {"market.coin": "TSLA", "venue.observe": True}
    assert labels == {"market.coin": "--market", "venue.observe": "--observe"}
    assert cli_overrides(live=True)[0] == {"venue.live": True}
    with pytest.raises(TypeError, match="unknown settings flag 'venu'"):
        cli_overrides(venu="sim")


def test_render_toml_redacts_secrets_and_comments_out_unset_values() -> None:
    text = render_toml({
        "a": {"key": SecretStr(SECRET), "unset": None, "n": 1, "on": True},
        "b": {"c": {"odd key": "x"}, "list": [1, "two"]},
    })  # fmt: skip
    assert SECRET not in text
    assert text == (
        '[a]\nkey = "**********"\n# unset is not set\nn = 1\non = true\n\n'
        '[b]\nlist = [1, "two"]\n\n[b.c]\n"odd key" = "x"\n'
    )
    assert tomllib.loads(text)["b"]["c"] == {"odd key": "x"}

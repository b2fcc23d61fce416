"""Settings models and the layered loader (hip3term.config)."""

from __future__ import annotations

import re
import textwrap
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from hip3term.config import (
    DEFAULTS_FILE,
    Settings,
    VenueSettings,
    load_config,
    load_settings,
)
from hip3term.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# An arbitrary 32-byte hex string used as "key material"; it must never be echoed.
SECRET = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def write(tmp_path: Path, text: str, name: str = "my.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def config_error(**kwargs: Any) -> str:
    kwargs.setdefault("env", {})
    with pytest.raises(ConfigError) as caught:
        load_settings(**kwargs)
    return caught.value.message


def leaves(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    found: dict[tuple[str, ...], Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            found.update(leaves(value, (*prefix, key)))
        else:
            found[(*prefix, key)] = value
    return found


# ---------------------------------------------------------------- defaults file


def test_defaults_file_is_the_repository_default_toml() -> None:
    assert DEFAULTS_FILE == CONFIGS / "default.toml"


def test_default_toml_alone_equals_model_defaults() -> None:
    assert load_settings(env={}, defaults_file=CONFIGS / "default.toml") == Settings()


def test_default_toml_lists_every_field_and_comments_out_the_unset_ones() -> None:
    text = (CONFIGS / "default.toml").read_text(encoding="utf-8")
    in_file = set(leaves(tomllib.loads(text)))
    model = leaves(Settings().model_dump(mode="python"))
    assert in_file == {path for path, value in model.items() if value is not None}
    for path in (path for path, value in model.items() if value is None):
        assert re.search(rf"^# {path[-1]} = ", text, re.MULTILINE), path


def test_default_toml_has_a_comment_on_every_key() -> None:
    previous = ""
    for line in (CONFIGS / "default.toml").read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "[")):
            assert previous.startswith("#"), f"no comment above: {line}"
        previous = stripped


@pytest.mark.parametrize(("name", "url"), [
    ("testnet", "wss://api.hyperliquid-testnet.xyz/ws"),
    ("mainnet", "wss://api.hyperliquid.xyz/ws"),
])  # fmt: skip
def test_overlay_files_select_their_venue_and_observe_only(name: str, url: str) -> None:
    settings = load_settings(CONFIGS / f"{name}.toml", env={})
    assert settings.venue.name == name
    assert settings.venue.ws_endpoint == url  # the URLs of PROTOCOL.md section 1
    assert settings.observe_only


def test_without_defaults_file_the_model_defaults_apply(tmp_path: Path) -> None:
    config = write(tmp_path, "[sim]\nseed = 7\n")
    settings = load_settings(config, env={}, defaults_file=None)
    assert settings.sim.seed == 7
    assert settings.risk == Settings().risk


# ---------------------------------------------------------------- layering


def test_layering_config_file_overrides_defaults_file(tmp_path: Path) -> None:
    defaults = write(tmp_path, '[market]\ncoin = "NVDA"\n[sim]\nseed = 3\n', "defaults.toml")
    config = write(tmp_path, '[market]\ncoin = "TSLA"\n')
    settings = load_settings(config, env={}, defaults_file=defaults)
    assert (settings.market.coin, settings.sim.seed) == ("TSLA", 3)


def test_layering_env_overrides_config_file(tmp_path: Path) -> None:
    config = write(tmp_path, '[market]\ncoin = "TSLA"\n')
    settings = load_settings(config, env={"HIP3TERM_MARKET__COIN": "NVDA"})
    assert settings.market.coin == "NVDA"


def test_layering_flags_override_env(tmp_path: Path) -> None:
    config = write(tmp_path, '[market]\ncoin = "TSLA"\n')
    env = {"HIP3TERM_MARKET__COIN": "NVDA"}
    settings = load_settings(config, {"market.coin": "AAPL", "venue.name": None}, env)
    assert settings.market.coin == "AAPL"
    assert settings.venue.name == "sim"  # a None flag is "not given"


def test_layering_merges_tables_deeply(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        """
        [risk]
        max_cumulative_loss = 12.5
        [feeds.stale_after_s]
        trades = 30
        [tui.bindings]
        quit = "x"
        """,
    )
    settings = load_settings(config, env={"HIP3TERM_RISK__TIME_STOP_S": "45"})
    assert settings.risk.max_cumulative_loss == Decimal("12.5")
    assert settings.risk.time_stop_s == 45.0
    assert settings.risk.max_notional_total == Decimal(100)
    assert settings.feeds.stale_after("trades") == 30.0
    assert settings.feeds.stale_after("l2Book") == 20.0
    assert settings.tui.bindings["quit"] == "x"
    assert settings.tui.bindings["halt"] == "h"


def test_partial_tables_keep_the_other_defaults_without_a_defaults_file() -> None:
    settings = Settings.model_validate(
        {"tui": {"bindings": {"quit": "x"}}, "feeds": {"stale_after_s": {"bbo": 5}}}
    )
    assert settings.tui.bindings["halt"] == "h"
    assert settings.feeds.stale_after("l2Book") == 20.0
    assert settings.feeds.stale_after("bbo") == 5.0


def test_sources_are_listed_in_layering_order(tmp_path: Path) -> None:
    config = write(tmp_path, '[market]\ncoin = "TSLA"\n')
    loaded = load_config(
        config,
        {"venue.name": "testnet"},
        {"HIP3TERM_SIM__SEED": "4", "HIP3TERM_AGENT_KEY": SECRET},
        override_labels={"venue.name": "--venue"},
    )
    assert loaded.sources == (
        f"defaults {CONFIGS / 'default.toml'}",
        f"file {config}",
        "environment HIP3TERM_SIM__SEED",
        "flag --venue",
    )


# ---------------------------------------------------------------- environment


def test_env_names_are_case_insensitive_and_values_coerced() -> None:
    env = {
        "hip3term_venue__name": "testnet",
        "HIP3TERM_FEEDS__STALE_AFTER_S__L2BOOK": "5",
        "HIP3TERM_Venue__Observe": "false",
        "HIP3TERM_RISK__MAX_NOTIONAL_PER_MARKET": "25.5",
        "HIP3TERM_EXECUTOR__TICK_MS": "50",
    }
    settings = load_settings(env=env)
    assert settings.venue.name == "testnet"
    assert settings.feeds.stale_after_s["l2Book"] == 5.0
    assert settings.venue.observe is False
    assert settings.risk.max_notional_per_market == Decimal("25.5")
    assert settings.executor.tick_ms == 50


def test_env_tables_and_lists_are_json() -> None:
    address = "0x" + "ab" * 20
    env = {
        "HIP3TERM_STRATEGY__PARAMS": '{"alpha": 0.05, "levels": [1, 2]}',
        "HIP3TERM_SIM__FUND": f'[{{"address": "{address}", "usdc": "1000"}}]',
    }
    settings = load_settings(env=env)
    assert settings.strategy.params == {"alpha": 0.05, "levels": [1, 2]}
    assert settings.sim.fund[0].address == address
    assert settings.sim.fund[0].usdc == Decimal(1000)


def test_env_empty_value_means_unset() -> None:
    settings = load_settings(env={"HIP3TERM_VENUE__WS_URL": "", "HIP3TERM_VENUE__OBSERVE": ""})
    assert settings.venue.ws_url is None
    assert settings.venue.observe is None


@pytest.mark.parametrize("name", [
    "HIP3TERM_VENUE_NAME",  # one underscore
    "HIP3TERM_VENUES__NAME",
    "HIP3TERM_VENUE__NAME__X",
    "HIP3TERM_TUI__BINDINGS__SHOUT",
])  # fmt: skip
def test_env_unknown_variable_is_an_error_naming_it(name: str) -> None:
    message = config_error(env={name: "x"})
    assert f"environment variable {name}" in message
    assert "HIP3TERM_<SECTION>__<FIELD>" in message or "sub-fields" in message


def test_env_bad_value_names_variable_field_value_and_rule() -> None:
    message = config_error(env={"HIP3TERM_RISK__MAX_NOTIONAL_TOTAL": "lots"})
    assert message.startswith("environment variable HIP3TERM_RISK__MAX_NOTIONAL_TOTAL: ")
    assert 'risk.max_notional_total = "lots": must be a valid decimal' in message


def test_env_bad_json_is_an_error_naming_the_variable() -> None:
    message = config_error(env={"HIP3TERM_STRATEGY__PARAMS": "{alpha"})
    assert message == (
        "environment variable HIP3TERM_STRATEGY__PARAMS: must be JSON (a table or a list)"
    )


def test_env_key_material_variables_are_not_settings(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        '[account.agent_key]\nenv_var = "HIP3TERM_MY_KEY"\npassword_env = "HIP3TERM_PW"\n',
    )
    env = {
        "HIP3TERM_AGENT_KEY": SECRET,
        "HIP3TERM_KEYSTORE_PASSWORD": "hunter2",
        "HIP3TERM_MY_KEY": SECRET,
        "HIP3TERM_PW": "hunter2",
    }
    loaded = load_config(config, env=env)
    assert loaded.settings.account.agent_key.env_var == "HIP3TERM_MY_KEY"
    assert not any("HIP3TERM_MY_KEY" in source or "PW" in source for source in loaded.sources)
    assert SECRET not in repr(loaded)


def test_env_key_variable_renamed_by_env_is_not_a_setting() -> None:
    env = {"HIP3TERM_ACCOUNT__AGENT_KEY__ENV_VAR": "HIP3TERM_OTHER", "HIP3TERM_OTHER": SECRET}
    assert load_settings(env=env).account.agent_key.env_var == "HIP3TERM_OTHER"


def test_env_the_hot_path_switch_is_not_a_setting() -> None:
    # README: `HIP3TERM_PURE=1` runs the hot path's Python source; every command that loads
    # settings must still start (a near miss still names itself)
    assert load_settings(env={"HIP3TERM_PURE": "1"}) == Settings()
    assert "environment variable HIP3TERM_PURES" in config_error(env={"HIP3TERM_PURES": "1"})


def test_env_other_variables_are_ignored() -> None:
    assert load_settings(env={"HOME": "/root", "XHIP3TERM_VENUE": "x"}) == Settings()


# ---------------------------------------------------------------- errors


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.venue.name = "mainnet"  # type: ignore[misc]  # reason: the point of the test
    with pytest.raises(ValidationError, match="frozen"):
        settings.risk = settings.risk  # type: ignore[misc]  # reason: the point of the test


def test_every_model_is_frozen_and_forbids_extra_keys() -> None:
    def models(model: type[BaseModel]) -> list[type[BaseModel]]:
        found = [model]
        for info in model.model_fields.values():
            for candidate in (info.annotation, *getattr(info.annotation, "__args__", ())):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    found += models(candidate)
        return found

    checked = models(Settings)
    assert len(checked) >= 12
    for model in checked:
        assert model.model_config.get("frozen") is True, model
        assert model.model_config.get("extra") == "forbid", model


def test_unknown_key_is_refused_with_file_line_and_allowed_keys(tmp_path: Path) -> None:
    config = write(tmp_path, "[risk]\nmax_cumulative_loss = 10\nmax_notional_per_markt = 3\n")
    message = config_error(config_file=config)
    assert message.startswith(f"{config}, line 3: risk.max_notional_per_markt: unknown key; ")
    assert "allowed keys: max_notional_per_market, max_notional_total," in message


def test_unknown_section_is_refused_with_allowed_sections(tmp_path: Path) -> None:
    message = config_error(config_file=write(tmp_path, "[venu]\nname = 'sim'\n"))
    assert "venu: unknown key; allowed keys: venue, market, account, risk, executor" in message


def test_unknown_channel_and_binding_ids_are_refused(tmp_path: Path) -> None:
    config = write(tmp_path, "[feeds.stale_after_s]\nl2book = 3\n[tui.bindings]\nshout = 'x'\n")
    message = config_error(config_file=config)
    assert f"{config}, line 2: feeds.stale_after_s.l2book: unknown key; allowed keys: " in message
    assert "'l2Book', 'bbo'" in message
    assert f"{config}, line 4: tui.bindings.shout: unknown key; allowed keys: 'halt'" in message


def test_toml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    config = write(tmp_path, '[venue]\nname = "sim"\nlive = \n')
    message = config_error(config_file=config)
    assert message.startswith(f"{config}, line 3, column 8: TOML syntax error: ")


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert config_error(config_file=missing) == f"config file {missing} does not exist"


def test_config_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "latin1.toml"
    config.write_bytes(b'[market]\ncoin = "\xe9"\n')
    assert "not UTF-8" in config_error(config_file=config)


def test_wrong_value_names_file_line_field_value_and_allowed(tmp_path: Path) -> None:
    config = write(tmp_path, '[venue]\nname = "moon"\n\n[risk]\nmax_notional_total = -5\n')
    message = config_error(config_file=config)
    assert message.startswith("2 problems:\n")
    assert (
        f"{config}, line 2: venue.name = \"moon\": must be one of 'sim', 'testnet' or 'mainnet'"
        in message
    )
    assert f"{config}, line 5: risk.max_notional_total = -5: must be greater than 0" in message


BAD_VALUES = [
    ("[executor]\ninflight_limit = 101",
     "executor.inflight_limit = 101: must be less than or equal to 100"),
    ("[executor]\ntick_ms = 0.5", "executor.tick_ms = 0.5: must be a valid integer"),
    ("[feeds]\nping_interval_s = 60", "feeds.ping_interval_s = 60: must be less than 60"),
    ("[feeds]\nbackoff_max_s = 0.1",
     "feeds.backoff_max_s = 0.1: must be at least backoff_initial_s (0.5)"),
    ("[risk]\ntime_stop_s = inf", "risk.time_stop_s = inf: must be a finite number"),
    ("[risk]\nmax_notional_per_market = 150",
     "risk.max_notional_total = 100: must be at least max_notional_per_market (150)"),
    ("[risk]\ndead_man_switch_s = 3", "risk.dead_man_switch_s = 3: must be 0 (off) or at least 5"),
    ("[venue]\nws_url = 'http://x/ws'",
     'venue.ws_url = "http://x/ws": must be a ws:// or wss:// URL'),
    ("[venue]\nws_url = 'ws://:80/ws'", "must be a ws:// or wss:// URL"),
    ("[venue]\nlive = 'maybe'", 'venue.live = "maybe": must be a valid boolean'),
    ("[market]\ndex = 'XYZ'",
     'market.dex = "XYZ": must be "" (validator perps) or 2-4 lowercase letters'),
    ("[market]\ncoin = 'xyz:CO-IN'", 'market.coin = "CO-IN": must be 1-20 letters/digits'),
    ("[account]\naddress = '0x1234'",
     'account.address = "0x1234": must be an address: 0x followed by 40'),
    ("[account.agent_key]\nsource = 'keystore'",
     'account.agent_key.keystore = (not set): must be set when source = "keystore"'),
    ("[account.agent_key]\nenv_var = 'MY-KEY'",
     'account.agent_key.env_var = "MY-KEY": must be a variable name'),
    ("[strategy]\nname = 'Oracle Dislocation'",
     'strategy.name = "Oracle Dislocation": must be a plugin name'),
    ("[sim]\nport = 70000", "sim.port = 70000: must be less than or equal to 65535"),
    ("[sim]\nfund = [{ address = '0x1234', usdc = 5 }]",
     'sim.fund.0.address = "0x1234": must be an address'),
    ("[tui.bindings]\nhalt = 'f'", "tui.bindings: halt and flatten are both bound to 'f'"),
    ("[tui.bindings]\nhalt = 'a b'", "tui.bindings: halt: 'a b' is not a key name"),
]  # fmt: skip


@pytest.mark.parametrize(("toml", "expected"), BAD_VALUES)
def test_bad_value_is_explained(tmp_path: Path, toml: str, expected: str) -> None:
    config = write(tmp_path, toml + "\n")
    message = config_error(config_file=config)
    assert message.startswith(f"{config}, line ")
    assert expected in message


def test_cross_field_error_points_at_what_the_user_set() -> None:
    message = config_error(env={"HIP3TERM_EXECUTOR__INFLIGHT_LIMIT": "50"})
    assert message == (
        "environment variable HIP3TERM_EXECUTOR__INFLIGHT_LIMIT: "
        "executor.inflight_high_water = 80: must be below inflight_limit (50)"
    )


def test_flag_errors_name_the_flag() -> None:
    labels = {"venue.name": "--venue"}
    message = config_error(overrides={"venue.name": "moon"}, override_labels=labels)
    assert message.startswith('--venue: venue.name = "moon": must be one of')


def test_errors_from_all_layers_are_listed_together(tmp_path: Path) -> None:
    config = write(tmp_path, "[sim]\nseed = -1\n")
    message = config_error(
        config_file=config,
        env={"HIP3TERM_NOPE": "1", "HIP3TERM_SIM__PORT": "x"},
        overrides={"market.dex": "Q"},
    )
    assert message.startswith("4 problems:\n  - environment variable HIP3TERM_NOPE: ")
    assert f"  - {config}, line 2: sim.seed = -1: must be greater than or equal to 0" in message
    assert '  - environment variable HIP3TERM_SIM__PORT: sim.port = "x": ' in message
    assert '  - override market.dex: market.dex = "Q": ' in message


# ---------------------------------------------------------------- live, observe, venue


def test_live_from_a_file_or_env_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path, "[venue]\nname = 'testnet'\nlive = true\n")
    message = config_error(config_file=config)
    assert message.startswith(f"{config}, line 3: venue.live = true: ")
    assert "(--live)" in message
    assert "environment variable HIP3TERM_VENUE__LIVE" in config_error(
        env={"HIP3TERM_VENUE__LIVE": "1"}
    )


def test_live_from_a_flag_trades() -> None:
    settings = load_settings(overrides={"venue.name": "mainnet", "venue.live": True}, env={})
    assert settings.venue.live
    assert settings.venue.is_mainnet
    assert not settings.observe_only


@pytest.mark.parametrize(("name", "live", "observe", "strategy_observe", "expected"), [
    ("sim", False, None, False, False),
    ("testnet", False, None, False, True),
    ("mainnet", False, None, False, True),
    ("mainnet", True, None, False, False),
    ("mainnet", True, True, False, True),
    ("sim", False, True, False, True),
    ("testnet", False, False, False, False),
    ("mainnet", True, None, True, True),
])  # fmt: skip
def test_observe_only_rules(
    name: str, live: bool, observe: bool | None, strategy_observe: bool, expected: bool
) -> None:
    venue = {"name": name, "live": live, "observe": observe}
    settings = Settings.model_validate({"venue": venue, "strategy": {"observe": strategy_observe}})
    assert settings.observe_only is expected


def test_ws_endpoint_override_and_sim_default() -> None:
    assert VenueSettings().ws_endpoint is None
    assert VenueSettings(name="mainnet", ws_url="ws://127.0.0.1:9/ws").ws_endpoint == (
        "ws://127.0.0.1:9/ws"
    )
    assert not VenueSettings(name="testnet").is_mainnet


@pytest.mark.parametrize(("coin", "dex", "expected"), [
    ("COIN", None, ("xyz", "COIN", "xyz:COIN")),
    ("xyz:TSLA", None, ("xyz", "TSLA", "xyz:TSLA")),
    ("flx:GOLD", "xyz", ("flx", "GOLD", "flx:GOLD")),
    ("BTC", "", ("", "BTC", "BTC")),
])  # fmt: skip
def test_market_names(coin: str, dex: str | None, expected: tuple[str, str, str]) -> None:
    settings = load_settings(overrides={"market.coin": coin, "market.dex": dex}, env={})
    market = settings.market
    assert (market.dex, market.coin, market.name) == expected


def test_address_is_normalised_to_lower_case() -> None:
    address = "0xAbCdEf0123456789aBcDeF0123456789ABCDEF01"
    settings = load_settings(env={"HIP3TERM_ACCOUNT__ADDRESS": address})
    assert settings.account.address == address.lower()


def test_stale_after_zero_or_unlisted_means_never() -> None:
    feeds = Settings().feeds
    assert feeds.stale_after("trades") is None
    assert feeds.stale_after("candle") is None
    assert feeds.stale_after("activeAssetCtx") == 10.0


# ---------------------------------------------------------------- secrets


def test_private_key_is_kept_but_never_shown() -> None:
    settings = load_settings(env={"HIP3TERM_ACCOUNT__AGENT_KEY__PRIVATE_KEY": "0x" + SECRET})
    key = settings.account.agent_key
    assert key.private_key is not None
    assert key.private_key.get_secret_value() == "0x" + SECRET
    assert key.effective_source == "direct"
    for text in (repr(settings), str(settings), settings.model_dump_json(), repr(key)):
        assert SECRET not in text
    assert '"private_key":"**********"' in settings.model_dump_json()


def test_bad_private_key_is_not_echoed() -> None:
    message = config_error(env={"HIP3TERM_ACCOUNT__AGENT_KEY__PRIVATE_KEY": SECRET[:-1]})
    assert SECRET[:-1] not in message
    assert 'account.agent_key.private_key = "**********" (redacted): must be 64 hex' in message


def test_key_pasted_in_the_wrong_place_is_not_echoed(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        f'[account]\naddress = "{SECRET}"\n[account.agent_key]\nprivat_key = "0x{SECRET}"\n',
    )
    message = config_error(config_file=config)
    assert SECRET not in message
    assert "account.address = " in message
    assert "looks like a private key" in message
    assert "account.agent_key.privat_key: unknown key" in message

"""Settings: frozen pydantic models and the layered loader.

Layers, later wins, tables merged deeply:

1. the defaults file `configs/default.toml` (it mirrors the model defaults exactly);
2. the file given with `--config FILE`;
3. environment variables `HIP3TERM_<SECTION>__<FIELD>` (double underscore between parts,
   case-insensitive, e.g. `HIP3TERM_VENUE__NAME=testnet`,
   `HIP3TERM_FEEDS__STALE_AFTER_S__L2BOOK=30`); tables and lists are written as JSON;
4. command-line flags, passed as dotted paths (`{"venue.name": "testnet"}`).

Every problem is reported at once in one `ConfigError` naming the source (file and line,
variable or flag), the field path, the bad value and what is allowed. `venue.live = true`
is only accepted from a command-line flag (`--live`), never from a file or a variable.

Key material is never a setting: `HIP3TERM_AGENT_KEY` (or the variable named by
`account.agent_key.env_var`) holds the agent key, and `HIP3TERM_KEYSTORE_PASSWORD` (or
`account.agent_key.password_env`) a keystore password; the loader skips them and never reads
their values. A key given directly (`account.agent_key.private_key`) is a `SecretStr`:
redacted in repr, str, JSON dumps and error messages.

This module imports only the standard library and pydantic; any layer may import it.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from operator import ge, lt
from pathlib import Path
from typing import Annotated, Any, Literal, TypeGuard, Union, cast, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from hip3term.errors import ConfigError

ENV_PREFIX = "HIP3TERM_"
AGENT_KEY_ENV = "HIP3TERM_AGENT_KEY"
KEYSTORE_PASSWORD_ENV = "HIP3TERM_KEYSTORE_PASSWORD"
RESERVED_ENV_VARS = frozenset({AGENT_KEY_ENV, KEYSTORE_PASSWORD_ENV})
"""Variables under HIP3TERM_ that hold key material, not settings (never read here)."""
REDACTED = "**********"
WS_URLS: Mapping[str, str] = {
    "mainnet": "wss://api.hyperliquid.xyz/ws",
    "testnet": "wss://api.hyperliquid-testnet.xyz/ws",
}
_REPO_DEFAULTS = Path(__file__).resolve().parent.parent / "configs" / "default.toml"
DEFAULTS_FILE: Path | None = _REPO_DEFAULTS if _REPO_DEFAULTS.is_file() else None
"""The repository's `configs/default.toml`, or None when hip3term runs from a wheel."""

_DEX = re.compile(r"[a-z]{2,4}")
_HEX_KEY = re.compile(r"(0[xX])?[0-9a-fA-F]{64}")


def looks_like_private_key(value: object) -> bool:
    """True for a string shaped like a hex private key (such values are never echoed)."""
    return isinstance(value, str) and _HEX_KEY.fullmatch(value.strip()) is not None


def _pattern(regex: str, rule: str) -> AfterValidator:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(rule)
        return value

    return AfterValidator(check)


def _versus(other: str, holds: Callable[[Any, Any], bool], rule: str) -> AfterValidator:
    # Compares with a field declared earlier in the same model (validated before this one).
    def check(value: Any, info: ValidationInfo) -> Any:
        bound = info.data.get(other)
        if bound is not None and not holds(value, bound):
            raise ValueError(f"{rule} {other} ({bound})")
        return value

    return AfterValidator(check)


def _check_address(value: str) -> str:
    if looks_like_private_key(value):
        raise ValueError("looks like a private key; an address is 0x + 40 hex digits")
    if not re.fullmatch(r"0[xX][0-9a-fA-F]{40}", value):
        raise ValueError("must be an address: 0x followed by 40 hexadecimal digits")
    return value.lower()


def _check_ws_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("ws", "wss") and bool(parts.hostname) and parts.port != -1
    except ValueError:  # a bad port
        ok = False
    if not ok:
        raise ValueError("must be a ws:// or wss:// URL with a host, e.g. ws://127.0.0.1:8080/ws")
    return value


def _check_key(value: SecretStr) -> SecretStr:
    if not looks_like_private_key(value.get_secret_value()):
        raise ValueError("must be 64 hexadecimal digits, optionally prefixed by 0x")
    return value


def _check_dead_man(value: float) -> float:
    if 0 < value < 5:
        raise ValueError("must be 0 (off) or at least 5 (the exchange's minimum)")
    return value


# TOML has no null, and an empty variable reads as "not set".
_Unset = BeforeValidator(lambda value: None if value == "" else value)
_AT_LEAST = "must be at least"
Seconds = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(gt=0)]
Money = Annotated[Decimal, Field(gt=0)]
Address = Annotated[str, AfterValidator(_check_address)]
EnvName = Annotated[
    str, _pattern(r"[A-Za-z_][A-Za-z0-9_]*", "must be a variable name (letters, digits, _)")
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class VenueSettings(_Model):
    """Which exchange to talk to, and whether orders may be sent to it."""

    name: Literal["sim", "testnet", "mainnet"] = "sim"
    ws_url: Annotated[Annotated[str, AfterValidator(_check_ws_url)] | None, _Unset] = None
    live: bool = False
    observe: Annotated[bool | None, _Unset] = None

    @property
    def ws_endpoint(self) -> str | None:
        """URL to connect to; None means "start the embedded simulator"."""
        return self.ws_url or WS_URLS.get(self.name)

    @property
    def is_mainnet(self) -> bool:
        """True on mainnet (real money; signatures use source "a")."""
        return self.name == "mainnet"

    @property
    def observe_only(self) -> bool:
        """Orders withheld: `observe` if set, else true on testnet/mainnet unless `live`."""
        if self.observe is not None:
            return self.observe
        return self.name != "sim" and not self.live


class MarketSettings(_Model):
    """The market traded: `coin` on the HIP-3 `dex` ("" = validator-operated perps)."""

    dex: Annotated[
        str, _pattern(r"([a-z]{2,4})?", 'must be "" (validator perps) or 2-4 lowercase letters')
    ] = "xyz"
    coin: Annotated[
        str, _pattern(r"[A-Za-z0-9]{1,20}", 'must be 1-20 letters/digits: "COIN" or "xyz:COIN"')
    ] = "COIN"

    @model_validator(mode="before")
    @classmethod
    def _split_full_name(cls, data: Any) -> Any:
        # "xyz:COIN" given as the coin sets the dex too; a bad prefix is left for the coin check.
        if isinstance(data, dict) and isinstance(coin := data.get("coin"), str) and ":" in coin:
            dex, _, bare = coin.partition(":")
            if _DEX.fullmatch(dex):
                return {**data, "dex": dex, "coin": bare}
        return data

    @property
    def name(self) -> str:
        """The exchange's name of the market: "xyz:COIN", or "BTC" on the validator dex."""
        return f"{self.dex}:{self.coin}" if self.dex else self.coin


class AgentKeySettings(_Model):
    """Where the agent (API wallet) key that signs actions comes from."""

    source: Literal["none", "env", "keystore"] = "env"
    env_var: EnvName = AGENT_KEY_ENV
    keystore: Annotated[Path | None, _Unset, Field(validate_default=True)] = None
    password_env: Annotated[EnvName | None, _Unset] = None
    private_key: Annotated[Annotated[SecretStr, AfterValidator(_check_key)] | None, _Unset] = None

    @field_validator("keystore")
    @classmethod
    def _check_keystore(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None and info.data.get("source") == "keystore":
            raise ValueError('must be set when source = "keystore"')
        return value

    @property
    def effective_source(self) -> str:
        """The source used: "direct" when `private_key` is set (it wins), else `source`."""
        return "direct" if self.private_key is not None else self.source


class AccountSettings(_Model):
    """The account queried (address) and the agent key that signs for it (separate)."""

    address: Annotated[Address | None, _Unset] = None
    agent_key: AgentKeySettings = Field(default_factory=AgentKeySettings)


class RiskSettings(_Model):
    """Limits of the gates and trips of the hard-stop latch (DESIGN section 3)."""

    max_notional_per_market: Money = Decimal(50)
    max_notional_total: Annotated[
        Money, Field(validate_default=True), _versus("max_notional_per_market", ge, _AT_LEAST)
    ] = Decimal(100)
    max_cumulative_loss: Money = Decimal(20)
    max_consecutive_losses: Count = 5
    max_flatten_failures: Count = 3
    time_stop_s: Seconds = 30.0
    flatten_alert_s: Seconds = 60.0
    market_data_stale_s: Seconds = 15.0
    max_oracle_mark_divergence_bps: Money = Decimal(100)
    ws_down_s: Seconds = 10.0
    reject_storm_count: Count = 10
    reject_storm_window_s: Seconds = 10.0
    halt_cancels_all: bool = True
    halt_flattens: bool = True
    cancel_all_on_quit: bool = True
    dead_man_switch_s: Annotated[float, Field(ge=0), AfterValidator(_check_dead_man)] = 60.0


class ExecutorSettings(_Model):
    """Batch scheduler, in-flight tracking and posting (DESIGN section 3)."""

    queue_capacity_cancel: Count = 200
    queue_capacity_reduce_only: Count = 500
    queue_capacity_new: Count = 1000
    inflight_limit: Annotated[int, Field(gt=0, le=100)] = 100
    inflight_high_water: Annotated[
        Count, Field(validate_default=True), _versus("inflight_limit", lt, "must be below")
    ] = 80
    tick_ms: Count = 100
    post_timeout_s: Seconds = 5.0
    max_orders_per_action: Count = 50
    max_cancels_per_action: Count = 50


Channel = Literal[
    "l2Book", "bbo", "trades", "activeAssetCtx", "activeAssetData", "allMids", "candle",
    "orderUpdates", "userFills", "userEvents", "userFundings", "clearinghouseState",
    "openOrders", "assetCtxs", "allDexsAssetCtxs",
]  # fmt: skip
DEFAULT_STALE_AFTER_S: Mapping[Channel, float] = {
    "l2Book": 20.0, "bbo": 20.0, "activeAssetCtx": 10.0,
    "trades": 0.0, "orderUpdates": 0.0, "userFills": 0.0,
}  # fmt: skip


class FeedSettings(_Model):
    """Websocket keep-alive, reconnect backoff and per-channel staleness."""

    ping_interval_s: Annotated[float, Field(gt=0, lt=60)] = 30.0
    pong_timeout_s: Seconds = 10.0
    backoff_initial_s: Seconds = 0.5
    backoff_max_s: Annotated[
        Seconds, Field(validate_default=True), _versus("backoff_initial_s", ge, _AT_LEAST)
    ] = 30.0
    backoff_jitter: Annotated[float, Field(ge=0, le=1)] = 1.0
    healthy_reset_s: Seconds = 60.0
    info_timeout_s: Seconds = 10.0
    stale_after_s: Annotated[
        dict[Channel, Annotated[float, Field(ge=0)]],
        AfterValidator(lambda value: {**DEFAULT_STALE_AFTER_S, **value}),
    ] = Field(default_factory=lambda: dict(DEFAULT_STALE_AFTER_S))

    def stale_after(self, channel: str) -> float | None:
        """Seconds without data after which `channel` is stale; None = never stale."""
        return self.stale_after_s.get(cast(Channel, channel), 0.0) or None


class StrategySettings(_Model):
    """The strategy plugin and its parameters (validated by the plugin itself)."""

    name: Annotated[
        str, _pattern(r"[a-z][a-z0-9_]*", "must be a plugin name: lowercase letters, digits, _")
    ] = "oracle_dislocation"
    params: dict[str, Any] = Field(default_factory=dict)
    observe: bool = False


class SimFunding(_Model):
    """USDC credited to an address when the simulator starts."""

    address: Address
    usdc: Money


class SimSettings(_Model):
    """The embedded exchange simulator."""

    seed: Annotated[int, Field(ge=0)] = 1
    port: Annotated[int, Field(ge=0, le=65535)] = 0
    faults: str = ""
    fund: tuple[SimFunding, ...] = ()


class PathSettings(_Model):
    """Where files go; relative paths are relative to the working directory."""

    recordings_dir: Path = Path("recordings")
    state_dir: Path = Path("state")
    journal: Path = Path("state/journal.sqlite")


BindingId = Literal["halt", "flatten", "cancel_all", "pause", "resume", "quit", "help"]
DEFAULT_BINDINGS: Mapping[BindingId, str] = {
    "halt": "h", "flatten": "f", "cancel_all": "c", "pause": "p", "resume": "r",
    "quit": "q", "help": "question_mark",
}  # fmt: skip
_KEY_NAME = re.compile(r"[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*")


def _check_bindings(value: dict[BindingId, str]) -> dict[BindingId, str]:
    merged = {**DEFAULT_BINDINGS, **value}
    owner: dict[str, str] = {}
    for binding, key in merged.items():
        if not _KEY_NAME.fullmatch(key):
            raise ValueError(f"{binding}: {key!r} is not a key name (h, ctrl+x, question_mark)")
        if key in owner:
            raise ValueError(f"{owner[key]} and {binding} are both bound to {key!r}")
        owner[key] = binding
    return merged


class TuiSettings(_Model):
    """Terminal UI: key bindings by binding id (Textual key names)."""

    bindings: Annotated[dict[BindingId, str], AfterValidator(_check_bindings)] = Field(
        default_factory=lambda: dict(DEFAULT_BINDINGS)
    )


class Settings(_Model):
    """The whole configuration; build it with `load_settings`, never mutate it."""

    venue: VenueSettings = Field(default_factory=VenueSettings)
    market: MarketSettings = Field(default_factory=MarketSettings)
    account: AccountSettings = Field(default_factory=AccountSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    feeds: FeedSettings = Field(default_factory=FeedSettings)
    strategy: StrategySettings = Field(default_factory=StrategySettings)
    sim: SimSettings = Field(default_factory=SimSettings)
    paths: PathSettings = Field(default_factory=PathSettings)
    tui: TuiSettings = Field(default_factory=TuiSettings)

    @property
    def observe_only(self) -> bool:
        """True when orders are withheld (venue observe mode or strategy.observe)."""
        return self.venue.observe_only or self.strategy.observe


# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class _Source:
    kind: Literal["defaults", "file", "env", "flag"]
    label: str
    text: str | None = None  # TOML text, to find the line of a key

    def where(self, path: tuple[str, ...]) -> str:
        line = _line_of(self.text, path) if self.text is not None else None
        return f"{self.label}, line {line}" if line else self.label


_BUILTIN = _Source("defaults", "built-in default")


@dataclass
class _Merged:
    data: dict[str, Any] = field(default_factory=dict)
    origin: dict[tuple[str, ...], _Source] = field(default_factory=dict)

    def add(self, layer: Mapping[str, Any], source: _Source, prefix: tuple[str, ...] = ()) -> None:
        target = self.data
        for part in prefix:
            target = target.setdefault(part, {})
        for key, value in layer.items():
            path = (*prefix, str(key))
            if isinstance(value, Mapping):
                if not isinstance(target.get(key), dict):
                    target[key] = {}
                    self.origin[path] = source
                self.add(value, source, path)
            else:
                target[key] = value
                for stale in [p for p in self.origin if p[: len(path)] == path]:
                    del self.origin[stale]
                self.origin[path] = source  # re-inserted: latest layers come last

    def source_of(self, path: tuple[str, ...]) -> _Source:
        for end in range(len(path), 0, -1):
            if (found := self.origin.get(path[:end])) is not None:
                return found
        return _BUILTIN

    def where(self, path: tuple[str, ...]) -> str:
        """Where the value at `path` was set; for a default, the user's latest nearby setting.

        A default can only be wrong through another field (a cross-field rule), so the
        operator is pointed at the latest value they set in the same section.
        """
        source = self.source_of(path)
        if source.kind == "defaults":
            section = path[:-1]
            for other, other_source in reversed(self.origin.items()):
                if other[: len(section)] == section and other_source.kind != "defaults":
                    return other_source.where(other)
        return source.where(path)


@dataclass(frozen=True)
class LoadedConfig:
    """Validated settings and the sources layered to make them, in order."""

    settings: Settings
    sources: tuple[str, ...]


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    defaults_file: Path | None = DEFAULTS_FILE,
    override_labels: Mapping[str, str] | None = None,
) -> Settings:
    """Load the layered settings; see `load_config`."""
    return load_config(config_file, overrides, env, defaults_file, override_labels).settings


def load_config(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    defaults_file: Path | None = DEFAULTS_FILE,
    override_labels: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Layer defaults file < config file < HIP3TERM_* variables < overrides, and validate.

    Args:
        config_file: the `--config` file; it must exist.
        overrides: dotted path -> value (command-line flags); None values are skipped.
        env: environment to read; `os.environ` when None.
        defaults_file: base layer; None to start from the model defaults only.
        override_labels: dotted path -> how to name it in errors (e.g. "--venue").

    Raises:
        ConfigError: listing every problem with its source, field path, value and rule.
    """
    merged, sources = _Merged(), []
    files: list[tuple[Path | None, Literal["defaults", "file"]]] = [
        (defaults_file, "defaults"),
        (config_file, "file"),
    ]
    for path, kind in files:
        if path is not None:
            text, data = _read_toml(path)
            merged.add(data, _Source(kind, str(path), text))
            sources.append(f"{kind} {path}")
    errors = _add_env(merged, os.environ if env is None else env, sources)
    labels = override_labels or {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            label = labels.get(dotted, f"override {dotted}")
            merged.add(_nest(tuple(dotted.split(".")), value), _Source("flag", label))
            sources.append(f"flag {label}" if dotted in labels else label)
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(merged.data)
    except ValidationError as exc:
        errors += [_describe(error, merged) for error in exc.errors()]
    if settings is not None and settings.venue.live:
        source = merged.source_of(("venue", "live"))
        if source.kind != "flag":
            errors.append(
                f"{source.where(('venue', 'live'))}: venue.live = true: live trading is only "
                "switched on from the command line (--live), never by a file or variable"
            )
    if errors or settings is None:
        raise ConfigError(_join(errors))
    return LoadedConfig(settings, tuple(sources))


def _join(errors: list[str]) -> str:
    if len(errors) == 1:
        return errors[0]
    return f"{len(errors)} problems:\n" + "\n".join(f"  - {error}" for error in errors)


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    for part in reversed(path):
        value = {part: value}
    return dict(value)


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        pattern = r"(?s)(.*) \(at (line \d+, column \d+|end of document)\)"
        found = re.fullmatch(pattern, str(exc))
        if found is None:
            raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
        reason, where = found.group(1), found.group(2).replace("end of document", "end of file")
        raise ConfigError(f"{path}, {where}: TOML syntax error: {reason}") from None


_HEADER = re.compile(r"\[\[?([^\[\]]+)\]\]?\s*(#.*)?")
_KEY_LINE = re.compile(r"([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _line_of(text: str, path: tuple[str, ...]) -> int | None:
    # Good enough for hand-written files: [table] headers plus `key = value` lines.
    table: tuple[str, ...] = ()
    best, best_depth = None, 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if (header := _HEADER.fullmatch(line)) is not None:
            table = _split_key(header.group(1))
            if path[: len(table)] == table and len(table) > best_depth:
                best, best_depth = number, len(table)
        elif (key := _KEY_LINE.match(line)) is not None and not line.startswith("#"):
            full = table + _split_key(key.group(1))
            if path[: len(full)] == full:
                return number
    return best


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in text.split("."))


# ---------------------------------------------------------------- environment


def _add_env(merged: _Merged, env: Mapping[str, str], sources: list[str]) -> list[str]:
    ours = [name for name in sorted(env) if name.upper().startswith(ENV_PREFIX)]
    found = {name: _resolve_env(name) for name in ours}
    key_vars = RESERVED_ENV_VARS | {name.upper() for name in _key_var_names(merged, env, found)}
    errors = []
    for name, resolved in found.items():
        if name.upper() in key_vars:
            continue  # key material: never read, never shown
        if isinstance(resolved, str):
            errors.append(f"environment variable {name}: {resolved}")
            continue
        path, annotation = resolved
        value: Any = env[name]
        if _is_container(annotation):
            try:
                value = json.loads(value)
            except ValueError:
                errors.append(f"environment variable {name}: must be JSON (a table or a list)")
                continue
        merged.add(_nest(path, value), _Source("env", f"environment variable {name}"))
        sources.append(f"environment {name}")
    return errors


def _key_var_names(
    merged: _Merged, env: Mapping[str, str], found: Mapping[str, tuple[tuple[str, ...], Any] | str]
) -> list[str]:
    # The variables named by account.agent_key.env_var and .password_env hold key material.
    fields = ("env_var", "password_env")
    account = merged.data.get("account")
    agent_key = account.get("agent_key") if isinstance(account, dict) else None
    names = [agent_key.get(f) for f in fields] if isinstance(agent_key, dict) else []
    paths = [("account", "agent_key", f) for f in fields]
    names += [env[n] for n, got in found.items() if isinstance(got, tuple) and got[0] in paths]
    return [name for name in names if isinstance(name, str)]


def _unwrap(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        annotation = args[0] if len(args) == 1 else annotation
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_container(annotation: Any) -> bool:
    return _is_model(annotation) or get_origin(annotation) in (dict, list, tuple)


def _resolve_env(name: str) -> tuple[tuple[str, ...], Any] | str:
    """(field path, annotation) of a HIP3TERM_ variable, or why it names no setting."""
    annotation: Any = Settings
    path: list[str] = []
    for part in name[len(ENV_PREFIX) :].split("__"):
        if _is_model(annotation):
            choices: tuple[str, ...] = tuple(annotation.model_fields)
        elif get_origin(annotation) is dict:
            key_type, annotation = get_args(annotation)
            choices = get_args(key_type) if get_origin(key_type) is Literal else ()
        else:
            return f"{'.'.join(path)} has no sub-fields (is {part!r} a typo?)"
        matches = [c for c in choices if c.lower() == part.lower()] if choices else [part.lower()]
        if not matches or not part:
            where = ".".join(path) or "settings"
            return (
                f"not a setting: {where} has no {part.lower()!r} (allowed: "
                f"{', '.join(choices)}); variables are HIP3TERM_<SECTION>__<FIELD>, "
                "two underscores between parts, e.g. HIP3TERM_VENUE__NAME"
            )
        path.append(matches[0])
        if _is_model(annotation):
            annotation = _unwrap(annotation.model_fields[matches[0]].annotation)
    return tuple(path), annotation


# ---------------------------------------------------------------- error messages


def _describe(error: ErrorDetails, merged: _Merged) -> str:
    parts = [str(p) for p in error["loc"] if p != "[key]"]
    path = tuple(parts)
    where = merged.where(path)
    dotted = ".".join(parts) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{where}: {dotted}: unknown key; allowed keys: {_allowed_keys(path[:-1])}"
    rule = _rule(error)
    if "[key]" in error["loc"]:
        keys = error.get("ctx", {}).get("expected", "?")
        return f"{where}: {dotted}: unknown key; allowed keys: {keys}"
    if isinstance(error["input"], Mapping | list | tuple):
        return f"{where}: {dotted}: {rule}"
    return f"{where}: {dotted} = {_show(path, error['input'])}: {rule}"


def _rule(error: ErrorDetails) -> str:
    if error["type"] == "literal_error":
        return f"must be one of {error.get('ctx', {}).get('expected', '?')}"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return re.sub(r"^(Input|Decimal input) should", "must", message)


def _show(path: tuple[str, ...], value: Any) -> str:
    if "private_key" in path or isinstance(value, SecretStr) or looks_like_private_key(value):
        return f'"{REDACTED}" (redacted)'
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = json.dumps(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _allowed_keys(path: tuple[str, ...]) -> str:
    model: Any = Settings
    for part in path:
        if part.isdigit() and get_origin(model) is tuple:
            model = get_args(model)[0]
        elif _is_model(model) and part in model.model_fields:
            model = _unwrap(model.model_fields[part].annotation)
        else:
            return "?"
    if _is_model(model):
        return ", ".join(model.model_fields)
    return "?"

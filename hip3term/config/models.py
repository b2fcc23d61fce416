"""Settings models: frozen pydantic models, one per section, with their defaults.

configs/default.toml mirrors these defaults exactly. Imports only the standard library
and pydantic; any layer may import it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from operator import ge, lt
from pathlib import Path
from typing import Annotated, Any, Literal, cast
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hip3term._native import PURE_ENV

ENV_PREFIX = "HIP3TERM_"
AGENT_KEY_ENV = "HIP3TERM_AGENT_KEY"
KEYSTORE_PASSWORD_ENV = "HIP3TERM_KEYSTORE_PASSWORD"
RESERVED_ENV_VARS = frozenset({AGENT_KEY_ENV, KEYSTORE_PASSWORD_ENV})
"""Variables under HIP3TERM_ that hold key material, not settings (never read here)."""
PACKAGE_ENV_VARS = frozenset({PURE_ENV})
"""Variables under HIP3TERM_ the package reads itself, not settings: `HIP3TERM_PURE`
(`hip3term._native`: run the hot path's Python source rather than its build)."""
REDACTED = "**********"
WS_URLS: Mapping[str, str] = {
    "mainnet": "wss://api.hyperliquid.xyz/ws",
    "testnet": "wss://api.hyperliquid-testnet.xyz/ws",
}
_REPO_DEFAULTS = Path(__file__).resolve().parents[2] / "configs" / "default.toml"
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
    prompt_dispatch: bool = True
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
    healthy_reset_s: Seconds = 5.0
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
    shocks_per_hour: Annotated[float, Field(ge=0)] = 480.0


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
    """Terminal UI: where the engine runs, key bindings by binding id (Textual key names)."""

    engine: Literal["process", "thread"] = "process"  # under the TUI (configs/default.toml)
    yield_cpu: Annotated[int, Field(ge=0, le=19)] = 5
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



"""Settings: frozen pydantic models (`models`) and the layered loader (`loader`).

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

from hip3term.config.loader import LoadedConfig, load_config, load_settings
from hip3term.config.models import (
    AGENT_KEY_ENV,
    DEFAULT_BINDINGS,
    DEFAULT_STALE_AFTER_S,
    DEFAULTS_FILE,
    ENV_PREFIX,
    KEYSTORE_PASSWORD_ENV,
    REDACTED,
    RESERVED_ENV_VARS,
    WS_URLS,
    AccountSettings,
    AgentKeySettings,
    BindingId,
    Channel,
    ExecutorSettings,
    FeedSettings,
    MarketSettings,
    PathSettings,
    RiskSettings,
    Settings,
    SimFunding,
    SimSettings,
    StrategySettings,
    TuiSettings,
    VenueSettings,
    looks_like_private_key,
)

__all__ = [
    "AGENT_KEY_ENV",
    "DEFAULTS_FILE",
    "DEFAULT_BINDINGS",
    "DEFAULT_STALE_AFTER_S",
    "ENV_PREFIX",
    "KEYSTORE_PASSWORD_ENV",
    "REDACTED",
    "RESERVED_ENV_VARS",
    "WS_URLS",
    "AccountSettings",
    "AgentKeySettings",
    "BindingId",
    "Channel",
    "ExecutorSettings",
    "FeedSettings",
    "LoadedConfig",
    "MarketSettings",
    "PathSettings",
    "RiskSettings",
    "Settings",
    "SimFunding",
    "SimSettings",
    "StrategySettings",
    "TuiSettings",
    "VenueSettings",
    "load_config",
    "load_settings",
    "looks_like_private_key",
]

"""Who signs and which account is queried, per venue and mode, decided before anything starts.

- observe mode, any venue: no key is loaded; the account is `account.address` if set,
  else none (market data only).
- sim, embedded simulator, no key configured: a fresh in-memory key; the account is its
  address, funded in the child simulator.
- sim, embedded simulator, a key configured: that key; the account is `account.address`,
  else the key's address; funded in the child simulator.
- sim at `--ws-url` (a simulator started elsewhere): the configured key is required; the
  account is `account.address`, else the key's address.
- testnet / mainnet with `--live`: the agent key and `account.address` are both required.

A key is "configured" when `account.agent_key.private_key` is set, or the source is
`keystore`, or the source is `env` and its variable is set. Every problem is a
`ConfigError` or `KeyLoadError` (exit status 2) raised before any connection is made; no
message ever contains key material.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from hip3term.config import Settings
from hip3term.errors import ConfigError
from hip3term.keys import SecretKey, load_keystore, new_key

__all__ = ["SIM_FUNDING", "Credentials", "resolve_credentials"]

SIM_FUNDING = Decimal(10_000)
"""USDC the embedded simulator credits to the workstation's account."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """The signing key (None: nothing will be signed) and the account queried.

    Attributes:
        key: the key that signs actions (the agent's, or the account's own).
        account: the account address queries and subscriptions use (lower case).
        fund: (address, USDC) the embedded simulator must credit at start.
        source: where the key came from, for the log ("generated", "environment
            variable X", "keystore F", "account.agent_key.private_key", "none").
    """

    key: SecretKey | None
    account: str | None
    fund: tuple[tuple[str, Decimal], ...] = ()
    source: str = "none"

    def describe(self) -> str:
        """One line for the operator (addresses only, never key material)."""
        signer = "no signing key" if self.key is None else (
            f"signer {self.key.address} ({self.source})")
        return f"account {self.account or '(none)'}, {signer}"


def _configured(settings: Settings, env: Mapping[str, str]) -> bool:
    agent = settings.account.agent_key
    source = agent.effective_source
    if source in ("direct", "keystore"):
        return True
    return source == "env" and bool(env.get(agent.env_var, "").strip())


def _load(settings: Settings, env: Mapping[str, str]) -> tuple[SecretKey, str]:
    agent = settings.account.agent_key
    source = agent.effective_source
    if source == "direct" and agent.private_key is not None:
        where = "account.agent_key.private_key"
        return SecretKey.from_hex(agent.private_key.get_secret_value(), source=where), where
    if source == "keystore" and agent.keystore is not None:
        return (load_keystore(agent.keystore, password_env=agent.password_env),
                f"keystore {agent.keystore}")  # fmt: skip
    where = f"environment variable {agent.env_var}"
    return SecretKey.from_hex(env.get(agent.env_var, ""), source=where), where


def resolve_credentials(settings: Settings, *, observe: bool, embedded_sim: bool,
                        env: Mapping[str, str] | None = None) -> Credentials:  # fmt: skip
    """Decide the signing key and the account for this run (see the module docstring).

    Args:
        settings: the loaded settings.
        observe: orders are withheld (no key is loaded).
        embedded_sim: the simulator is started as a child process (venue sim, no URL).
        env: the environment to read the key variable from (`os.environ` if None).

    Raises:
        ConfigError: a key or an account address is needed and not configured.
        KeyLoadError: the configured key cannot be loaded.
    """
    env = os.environ if env is None else env
    address = settings.account.address
    sim_fund = tuple((f.address, f.usdc) for f in settings.sim.fund)
    if observe:
        return Credentials(None, address, sim_fund)
    venue = settings.venue.name
    if embedded_sim:
        if _configured(settings, env):
            key, source = _load(settings, env)
        else:
            key, source = new_key(), "generated for this session"
            address = None  # a fresh key can only trade for its own address
        account = address or key.address
        funded = {a.lower() for a, _ in sim_fund}
        fund = sim_fund if account in funded else (*sim_fund, (account, SIM_FUNDING))
        return Credentials(key, account, fund, source)
    if not _configured(settings, env):
        var = settings.account.agent_key.env_var
        raise ConfigError(
            f"trading on {venue} ({settings.venue.ws_endpoint}) needs the agent key that "
            f"signs: set the environment variable {var} (64 hex digits), or "
            "account.agent_key.source = \"keystore\" with account.agent_key.keystore; "
            "or run with --observe to send nothing"
        )
    key, source = _load(settings, env)
    if address is None and venue != "sim":
        raise ConfigError(
            f"trading on {venue} needs account.address (the account the agent key trades "
            "for; queries use it, an agent's own address has no positions): set it in "
            "your --config file or HIP3TERM_ACCOUNT__ADDRESS"
        )
    return Credentials(key, address or key.address, (), source)

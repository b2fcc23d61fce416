"""Who may act on the simulated exchange: funded accounts, their agents, rate budgets (pure).

- An *account* exists once it is funded (`--fund ADDR[=USDC]`); only accounts hold money,
  positions and orders, and info queries use account addresses.
- An *agent* (API wallet) is an address an account approved with `approveAgent`; it signs
  for that account. Each account has at most one unnamed agent and three named ones
  (PROTOCOL.md section 6): approving a new unnamed agent replaces the old unnamed one, a
  name already in use replaces that named agent, and a fourth name is refused. A name may
  end with `valid_until <ms>`: the agent stops working at that time. A replaced or
  expired agent's nonce state is pruned, as the exchange does.
- The *address rate budget* (PROTOCOL.md section 7): every accepted action costs its
  account one request per order or cancel in it (one for other actions); the cap is
  10000 + the account's cumulative traded volume in USDC (cancels may go up to
  `min(cap + 100000, 2 * cap)`). Beyond the cap an action is refused with the
  exchange's text `Too many cumulative requests sent (USED > CAP) for cumulative volume
  traded $VLM. Place taker orders to free up 1 request per USDC traded.`
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from hip3term.core.numeric import to_wire

INITIAL_REQUEST_BUFFER = 10_000
CANCEL_EXTRA = 100_000
MAX_NAMED_AGENTS = 3
_VALID_UNTIL = re.compile(r"(.*?)\s*valid_until\s+(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class Agent:
    """An approved API wallet.

    Attributes:
        address: The agent's address (lower case).
        owner: The account it signs for.
        name: Its name ("" for the unnamed agent), without any `valid_until` suffix.
        valid_until_ms: When it stops working, or None.
    """

    address: str
    owner: str
    name: str
    valid_until_ms: int | None


class Accounts:
    """Funded accounts, approved agents and each account's request count and volume."""

    def __init__(self) -> None:
        """Start with no accounts."""
        self._funded: set[str] = set()
        self._agents: dict[str, Agent] = {}
        self._used: dict[str, int] = {}
        self._volume: dict[str, Decimal] = {}

    def add_account(self, address: str) -> None:
        """Mark `address` (any case) as a funded account."""
        self._funded.add(address.lower())

    def is_account(self, address: str) -> bool:
        """Whether `address` is a funded account."""
        return address.lower() in self._funded

    @property
    def accounts(self) -> list[str]:
        """Every funded account, sorted."""
        return sorted(self._funded)

    def owner_of(self, signer: str, now_ms: int) -> str | None:
        """The account `signer` acts for: itself if funded, its owner if a live agent."""
        signer = signer.lower()
        if signer in self._funded:
            return signer
        agent = self._agents.get(signer)
        if agent is None or agent.owner not in self._funded:
            return None
        if agent.valid_until_ms is not None and now_ms >= agent.valid_until_ms:
            return None
        return agent.owner

    def agents_of(self, owner: str) -> list[Agent]:
        """The agents approved by `owner`, unnamed first, then by name."""
        owner = owner.lower()
        found = [agent for agent in self._agents.values() if agent.owner == owner]
        return sorted(found, key=lambda agent: (agent.name != "", agent.name))

    def approve_agent(self, owner: str, address: str, name: str) -> tuple[str | None, list[str]]:
        """Approve `address` as an agent of `owner`.

        Returns:
            (refusal text or None, the addresses of agents it replaced: prune their nonces)
        """
        owner, address = owner.lower(), address.lower()
        if address in self._funded:
            return f"Cannot approve an account as an agent: {address}", []
        base, valid_until = _split_valid_until(name)
        existing = self._agents.get(address)
        if existing is not None and existing.owner != owner:
            return f"Agent {address} is already approved by another account", []
        replaced = [
            agent.address
            for agent in self.agents_of(owner)
            if agent.name == base and agent.address != address
        ]
        named = {agent.name for agent in self.agents_of(owner) if agent.name}
        if base and base not in named and len(named) >= MAX_NAMED_AGENTS:
            return f"Too many named agents: an account may have at most {MAX_NAMED_AGENTS}", []
        for old in replaced:
            del self._agents[old]
        self._agents[address] = Agent(address, owner, base, valid_until)
        return None, replaced

    # --- rate budget ------------------------------------------------------------------------

    def add_volume(self, account: str, notional: Decimal) -> None:
        """Add traded notional (USDC) to an account's cumulative volume."""
        account = account.lower()
        self._volume[account] = self._volume.get(account, Decimal(0)) + abs(notional)

    def volume(self, account: str) -> Decimal:
        """An account's cumulative traded volume in USDC."""
        return self._volume.get(account.lower(), Decimal(0))

    def request_cap(self, account: str) -> int:
        """The account's request allowance: 10000 + its volume in whole USDC."""
        return INITIAL_REQUEST_BUFFER + int(self.volume(account))

    def requests_used(self, account: str) -> int:
        """Requests the account has spent so far."""
        return self._used.get(account.lower(), 0)

    def spend(self, account: str, weight: int, *, cancels_only: bool) -> str | None:
        """Spend `weight` requests of the account's budget, or return the refusal text."""
        account = account.lower()
        used = self.requests_used(account) + weight
        cap = self.request_cap(account)
        limit = min(cap + CANCEL_EXTRA, 2 * cap) if cancels_only else cap
        if used > limit:
            return (
                f"Too many cumulative requests sent ({used} > {limit}) for cumulative volume "
                f"traded ${to_wire(self.volume(account).quantize(Decimal(1)))}. Place taker "
                "orders to free up 1 request per USDC traded."
            )
        self._used[account] = used
        return None

    def rate_limit_info(self, account: str) -> dict[str, object]:
        """The `userRateLimit` info response for `account`."""
        return {
            "cumVlm": to_wire(self.volume(account)) if self.volume(account) else "0.0",
            "nRequestsUsed": self.requests_used(account),
            "nRequestsCap": self.request_cap(account),
            "nRequestsSurplus": 0,
        }


def _split_valid_until(name: str) -> tuple[str, int | None]:
    match = _VALID_UNTIL.fullmatch(name)
    if match is None:
        return name, None
    return match.group(1), int(match.group(2))

"""Starting a node: the embedded simulator when the venue needs it, then the `TradingNode`.

`await launch(settings, strategy=..., credentials=...)` starts the simulator as a child
process when the venue is `sim` without a URL (seeded from `sim.seed`, with `sim.faults`,
funding the accounts of the credentials; it dies with this process), builds the node on
its URL and returns a `LaunchedNode`: the node's handle methods plus `run()`, which runs
the node and stops the simulator afterwards. It is the `NodeFactory` the TUI's engine
thread calls, and what `hip3term run --headless` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hip3term.config import Settings
from hip3term.runtime.credentials import Credentials
from hip3term.runtime.node import ExtraTask, TradingNode
from hip3term.runtime.simproc import SimProcess
from hip3term.runtime.snapshot import CommandResult, NodeSnapshot, OperatorCommand
from hip3term.strategy.base import Strategy

__all__ = ["LaunchedNode", "launch"]


class LaunchedNode:
    """A `TradingNode` and the child simulator it trades on (None for a remote venue)."""

    def __init__(self, node: TradingNode, sim: SimProcess | None) -> None:
        self.node, self.sim = node, sim

    def snapshot(self) -> NodeSnapshot:
        """The node's snapshot."""
        return self.node.snapshot()

    def command(self, command: OperatorCommand, *, who: str = "operator",
                reason: str = "") -> CommandResult:  # fmt: skip
        """An operator command to the node."""
        return self.node.command(command, who=who, reason=reason)

    def request_stop(self, reason: str = "operator quit") -> None:
        """Ask the node for a graceful shutdown."""
        self.node.request_stop(reason)

    async def run(self, *, extra_tasks: Sequence[ExtraTask] = ()) -> None:
        """Run the node; then stop the simulator (also when the node failed)."""
        try:
            await self.node.run(extra_tasks=extra_tasks)
        finally:
            if self.sim is not None:
                await self.sim.aclose()


async def launch(settings: Settings, *, strategy: Strategy[Any],
                 credentials: Credentials) -> LaunchedNode:  # fmt: skip
    """Start the simulator if the venue needs it, and build the node (module docstring).

    Raises:
        SimulatorError: the simulator did not start.
        NonceError: the signer's nonce store is unreadable.
    """
    url, sim = settings.venue.ws_endpoint, None
    if url is None:
        settings.paths.state_dir.mkdir(parents=True, exist_ok=True)
        sim = await SimProcess.start(
            [settings.market.name], seed=settings.sim.seed, fund=credentials.fund,
            faults=settings.sim.faults, shocks_per_hour=settings.sim.shocks_per_hour,
            log_path=settings.paths.state_dir / "sim.log",
        )  # fmt: skip
        url = sim.url
    try:
        node = TradingNode(settings, strategy=strategy, credentials=credentials, ws_url=url)
    except BaseException:
        if sim is not None:
            await sim.aclose()
        raise
    return LaunchedNode(node, sim)

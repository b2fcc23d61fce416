"""Deterministic workstation apps for the snapshot tests (no engine, no timer, no clock).

`build(scene)` returns a `WorkstationApp` on a scripted node whose snapshots are fixed:
the book comes from the simulator's synthetic market with a fixed seed and a `SimClock`,
the session PnL series from a fixed sequence of 90 snapshots one second apart, every
time shown is a snapshot's own. The poll timer is off (`refresh_hz=0`): the scripted
snapshots are drawn once the app is ready.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal

from hip3term.core.events import OrderState
from hip3term.runtime.snapshot import ExecutorSnapshot, NodeSnapshot, PnlSummary, WouldBeOrder
from hip3term.runtime.thread import EngineThread
from hip3term.tui.app import WorkstationApp
from tests.tui.fakes import START_MS, FakeNode, RunnableFake, make_snapshot, tripped

# A fixed session: realized steps up and down, unrealized wobbles (cents).
_REALIZED = [0, 0, 12, 12, 12, 31, 31, 25, 25, 47, 47, 47, 40, 62, 62, 80, 80, 71, 71, 84]
_UNREALIZED = [0, 3, -2, 5, 9, -4, -8, 2, 6, -3]


def session(count: int = 90) -> list[NodeSnapshot]:
    """`count` snapshots one second apart with a moving session PnL."""
    base = make_snapshot()
    out = []
    for i in range(count):
        realized = Decimal(_REALIZED[i * len(_REALIZED) // count]) / 100
        unrealized = Decimal(_UNREALIZED[i % len(_UNREALIZED)]) / 100
        pnl = dataclasses.replace(base.pnl, realized=realized, unrealized=unrealized)
        out.append(dataclasses.replace(base, taken_ms=START_MS - (count - 1 - i) * 1000,
                                       pnl=pnl))  # fmt: skip
    return out


class ScriptedWorkstation(WorkstationApp):
    """A workstation that draws a fixed list of snapshots once ready."""

    def __init__(self, script: Sequence[NodeSnapshot], **options: bool) -> None:
        super().__init__(FakeNode(script[-1]), refresh_hz=0, **options)  # type: ignore[arg-type]
        self.script = list(script)

    def on_ready(self) -> None:
        """Draw the script."""
        for snapshot in self.script:
            self.show_snapshot(snapshot)


def _observe() -> list[NodeSnapshot]:
    would_be = tuple(
        WouldBeOrder(START_MS - 4000 + i * 1500, f"0x{i:032x}", "xyz:COIN", side,
                     Decimal(px), Decimal("0.120"), "Ioc", False, edge, "taker", "done")
        for i, (side, px, edge) in enumerate((("B", "190.94", 17.2), ("A", "190.88", 21.5),
                                              ("B", "190.95", 16.1)))
    )  # fmt: skip
    return [dataclasses.replace(
        snap, venue="testnet", mode="observe", positions=(), orders=(), would_be=would_be,
        executor=ExecutorSnapshot(), pnl=PnlSummary(), dead_man="observe",
        strategy=dataclasses.replace(snap.strategy, observe=True),
    ) for snap in session(30)]  # fmt: skip


def build(scene: str) -> WorkstationApp:
    """The app for `scene`: main, tripped, observe or mainnet."""
    if scene == "main":
        return ScriptedWorkstation(session())
    if scene == "tripped":
        script = session()
        return ScriptedWorkstation([*script[:-1], tripped(script[-1], "halt key")])
    if scene == "observe":
        return ScriptedWorkstation(_observe())
    if scene == "mainnet":
        async def factory() -> RunnableFake:
            raise AssertionError("the engine must not start in this scene")

        return WorkstationApp(EngineThread(factory), confirm_mainnet=True, refresh_hz=0,
                              mainnet_summary="account 0xabab…abab on xyz:COIN; limits $50 "
                                              "a market, $100 in total, $20 loss")  # fmt: skip
    raise ValueError(f"unknown scene {scene!r}")


__all__ = ["OrderState", "ScriptedWorkstation", "build", "session"]

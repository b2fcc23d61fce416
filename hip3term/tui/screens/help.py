"""The help screen: every key (with its remapped key), every pane, the colours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from hip3term.tui import palette as pal
from hip3term.tui.bindings import KEYS, key_label

__all__ = ["PANES", "HelpScreen", "help_text"]

PANES: tuple[tuple[str, str], ...] = (
    ("status bar", "Venue badge (SIM, TESTNET, MAINNET LIVE in red, or ... OBSERVE when "
     "nothing is sent), market, phase, latch state and reason, the four READY-TRADING "
     "flags (market data, order updates, fills snapshot, positions synced; ● holds, ○ "
     "missing). Second line: websocket up/down, round trip, reconnects, age of each "
     "market-data channel (red when stale), the exchange's dead-man switch "
     "(scheduleCancel), recorder and journal health."),
    ("banner", "Red while the latch is HALTED or TRIPPED (why, since when, what was done), "
     "amber while PAUSED. Hidden while trading."),
    ("book", "Asks (red) above, bids (green) below, best prices next to the mid line; "
     "size, number of orders and a size bar per level; ◆ marks your own resting size. "
     "The oracle (violet) and mark (blue) are tagged on the level nearest their price "
     "(▲/▼: beyond the levels shown). Header: spread, and the dislocations: buy = "
     "(oracle - best ask) / oracle, sell = (best bid - oracle) / oracle, in bps; "
     "positive means an edge before fees."),
    ("positions", "Side, size, entry, mark, unrealized and realized PnL, age and the "
     "time stop's countdown (FLATTEN while an exit runs); then the open orders, and in "
     "observe mode the would-be orders with their expected edge."),
    ("in flight", "Executor queues in priority order (cancel > reduce-only > new), held "
     "orders, posts in flight against the limit of 100 (amber from the high-water mark: "
     "new orders wait; red at the limit: nothing is sent), each pending post (id, kind, "
     "age, nonce, items), then the latest acks, fills and rejects."),
    ("pnl", "Session PnL (realized + unrealized, net of fees) as a chart, green above "
     "zero and red below; fees, round trips, wins, losses, win rate, the current run of "
     "losses (the latch trips past risk.max_consecutive_losses); the strategy's signals, "
     "fill rate, mean expected vs realized edge and slippage (bps), time to flat (mean / "
     "max), PnL per trade and of the last trade."),
    ("events", "Signals, fills, rejects, risk events and your own keys with the node's "
     "answer, newest last; times are UTC."),
)  # fmt: skip


def help_text(keys: Mapping[str, str]) -> Text:
    """The whole help text for the keymap `keys`."""
    out = Text()
    out.append("Keys\n", pal.HEADER)
    for spec in KEYS:
        out.append(f"  {key_label(keys, spec.id):>5}  ", pal.OWN)
        out.append(f"{spec.label:<11}", pal.VALUE)
        out.append(spec.help + "\n", pal.LABEL)
    out.append("  (keys are remapped in the config: [tui.bindings], e.g. halt = \"x\")\n\n",
               pal.DIM)  # fmt: skip
    out.append("Panes\n", pal.HEADER)
    for name, text in PANES:
        out.append(f"  {name:<10} ", pal.VALUE)
        out.append(text + "\n", pal.LABEL)
    out.append("\nColours\n", pal.HEADER)
    out.append("  green", pal.BUY)
    out.append(" buy, long, profit, healthy   ", pal.LABEL)
    out.append("red", pal.SELL)
    out.append(" sell, short, loss, danger   ", pal.LABEL)
    out.append("amber", pal.WARN)
    out.append(" warning, paused   ", pal.LABEL)
    out.append("◆ yellow", pal.OWN)
    out.append(" your orders\n", pal.LABEL)
    return out


class HelpScreen(ModalScreen[None]):
    """Every key and pane explained; Escape (or the help key) closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "close help", id="help.close"),
    ]

    def __init__(self, keys: Mapping[str, str]) -> None:
        super().__init__(classes="help")
        self.keys = dict(keys)

    def compose(self) -> ComposeResult:
        """The help text in a scrollable box."""
        with VerticalScroll(id="help-box"):
            yield Static(help_text(self.keys), id="help-text")

    def on_mount(self) -> None:
        """Title the box."""
        self.query_one("#help-box").border_title = "hip3term help (Escape closes)"

    def action_close(self) -> None:
        """Close the help screen."""
        self.dismiss(None)

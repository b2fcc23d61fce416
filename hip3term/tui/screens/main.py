"""The main screen: status bar, latch banner, book ladder, positions, in flight, PnL, events.

Layout: the ladder on the left, full height; on the right, positions on top, then
in-flight and PnL side by side (stacked under 150 columns), then the events log. Under 32
rows (an 80x24 terminal, say) the positions, in-flight and PnL panes are shorter so that
the events log keeps a few rows. Every
pane is a `LinePane`; `show(snapshot)` hands each its slice and each repaints only the
rows that changed.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer

from hip3term.runtime.snapshot import EventLine, NodeSnapshot
from hip3term.tui.widgets.book_ladder import BookLadder
from hip3term.tui.widgets.events_log import EventsLog
from hip3term.tui.widgets.inflight import InflightPane
from hip3term.tui.widgets.lines import LinePane
from hip3term.tui.widgets.pnl import PnlPane
from hip3term.tui.widgets.positions import PositionsPane
from hip3term.tui.widgets.status_bar import LatchBanner, StatusBar

__all__ = ["SHORT_UNDER", "WIDE_FROM", "MainScreen"]

WIDE_FROM = 150
"""From this many columns, in-flight and PnL sit side by side."""
SHORT_UNDER = 32
"""Under this many rows, the right-hand panes shrink to leave the events log room."""


class MainScreen(Screen[None]):
    """The workstation's one working screen."""

    def compose(self) -> ComposeResult:
        """The panes (see the module docstring)."""
        yield StatusBar(id="status")
        yield LatchBanner(id="banner")
        with Horizontal(id="body"):
            yield BookLadder(id="book")
            with Vertical(id="right"):
                yield PositionsPane(id="positions")
                with Horizontal(id="middle"):
                    yield InflightPane(id="inflight")
                    yield PnlPane(id="pnl")
                yield EventsLog(id="events")
        yield Footer()

    def on_mount(self) -> None:
        """Title the panes."""
        titles = {"#book": "book", "#positions": "positions", "#inflight": "in flight",
                  "#pnl": "session pnl", "#events": "events"}  # fmt: skip
        for selector, title in titles.items():
            self.query_one(selector).border_title = title

    def on_resize(self, event: Resize) -> None:
        """Stack the middle panes on narrow terminals, shorten them on short ones."""
        self.set_class(event.size.width < WIDE_FROM, "-narrow")
        self.set_class(event.size.height < SHORT_UNDER, "-short")

    def panes(self) -> list[LinePane]:
        """Every pane, in drawing order."""
        return list(self.query(LinePane))

    def show(self, snapshot: NodeSnapshot) -> None:
        """Hand the snapshot to every pane (each skips work when its slice is unchanged)."""
        for pane in self.panes():
            pane.draw(snapshot)

    def log_line(self, line: EventLine) -> None:
        """Add a TUI line (operator key, outcome) to the events log; nothing while closing."""
        for log in self.query(EventsLog):
            log.add_local(line)

    def alert(self, text: str) -> None:
        """Show a red banner that stays (the engine stopped); nothing while closing."""
        for banner in self.query(LatchBanner):
            banner.alert(text)

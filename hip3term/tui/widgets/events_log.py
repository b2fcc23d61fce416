"""The events log: signals, fills, rejects, risk events and operator actions, newest last.

Lines come from the node's recent-events log (`NodeSnapshot.events`) merged by time with
the TUI's own lines (what each key did and the node's answer). Alerts are red, warnings
amber; the kind column is coloured by what happened (fills blue, latch and risk red,
operator yellow, signals violet).
"""

from __future__ import annotations

from collections import deque

from rich.style import Style
from rich.text import Text

from hip3term.runtime.snapshot import EventLine, NodeSnapshot
from hip3term.tui import palette as pal
from hip3term.tui.widgets.lines import LinePane

__all__ = ["EventsLog", "event_row"]

_KIND_W = 16


def _kind_style(line: EventLine) -> Style:
    kind = line.kind.lower()
    if line.severity == "alert" or "latch" in kind or "alert" in kind:
        return pal.BAD
    if line.severity == "warning" or "reject" in kind or "fail" in kind:
        return pal.WARN
    if "operator" in kind or kind.startswith("key"):
        return pal.OWN
    if "fill" in kind or "position" in kind:
        return pal.MARK
    if "signal" in kind:
        return pal.ORACLE
    return pal.LABEL


def event_row(line: EventLine) -> Text:
    """One log line: UTC time with ms, kind, text."""
    text_style = pal.BAD if line.severity == "alert" else pal.VALUE
    return Text.assemble(
        (pal.fmt_clock(line.time_ms, millis=True) + " ", pal.DIM),
        (f"{line.kind[:_KIND_W]:<{_KIND_W}} ", _kind_style(line)),
        (line.text, text_style),
    )


class EventsLog(LinePane):
    """The merged events log (see the module docstring)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.local: deque[EventLine] = deque(maxlen=200)
        self._local_added = 0

    def add_local(self, line: EventLine) -> None:
        """Add a TUI line (an operator key and its outcome); shown on the next draw."""
        self.local.append(line)
        self._local_added += 1
        if self._snapshot is not None:
            self.show(self._snapshot)

    def show(self, snapshot: NodeSnapshot) -> None:
        """Redraw when the node's log, the TUI's lines or the height changed."""
        height = self.size.height
        key = (snapshot.events[-max(height, 1):], self._local_added, height)
        if not self.changed(key):
            return
        merged = sorted([*snapshot.events, *self.local], key=lambda line: line.time_ms)
        self.set_rows([event_row(line) for line in merged[-max(height, 1):]])

"""The events log: signals, fills, rejects, risk events and operator actions, newest last.

Lines come from the node's recent-events log (`NodeSnapshot.events`) merged by time with
the TUI's own lines (what each key did and the node's answer). Alerts are red, warnings
amber; the kind column is coloured by what happened (fills blue, latch and risk red,
operator yellow, signals violet). A text longer than the pane is wide goes on under itself
(up to `MAX_EVENT_ROWS` rows, then cut with an ellipsis): a reject's or a trip's reason is
read whole, not cut at the pane's edge.
"""

from __future__ import annotations

import textwrap
from collections import deque

from rich.style import Style
from rich.text import Text

from hip3term.runtime.snapshot import EventLine, NodeSnapshot
from hip3term.tui import palette as pal
from hip3term.tui.widgets.lines import LinePane

__all__ = ["MAX_EVENT_ROWS", "EventsLog", "event_rows"]

_KIND_W = 16
_TEXT_AT = len("00:00:00.000 ") + _KIND_W + 1  # the column where an event's text starts
_MIN_TEXT_W = 20  # narrower than this the narrow form is used (see `event_rows`)
_NARROW_AT = len("00:00:00 ")  # where the narrow form's continued rows start
MAX_EVENT_ROWS = 4  # the most rows one event takes


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


def _head(line: EventLine, *, wide: bool) -> list[tuple[str, Style]]:
    # wide: UTC time with ms and the kind in a column; narrow: time to the second and kind
    if wide:
        return [(pal.fmt_clock(line.time_ms, millis=True) + " ", pal.DIM),
                (f"{line.kind[:_KIND_W]:<{_KIND_W}} ", _kind_style(line))]  # fmt: skip
    return [(pal.fmt_clock(line.time_ms) + " ", pal.DIM), (line.kind + " ", _kind_style(line))]


def event_rows(line: EventLine, width: int, max_rows: int = MAX_EVENT_ROWS) -> list[Text]:
    """One event as rows of `width` cells: its text goes on under the text column when it
    does not fit, on at most `max_rows` rows, the last one ending in an ellipsis when the
    text goes on. A pane too narrow for the time, kind and text columns gives the time to
    the second, the kind and the text on one run, continued under the kind."""
    wide = width - _TEXT_AT >= _MIN_TEXT_W
    head = _head(line, wide=wide)
    lead, indent = sum(len(text) for text, _ in head), _TEXT_AT if wide else _NARROW_AT
    style = pal.BAD if line.severity == "alert" else pal.VALUE
    if lead + len(line.text) <= width or max_rows < 2 or lead > width - 4:
        return [Text.assemble(*head, (line.text, style))]
    parts = textwrap.TextWrapper(width=width, initial_indent=" " * lead,
                                 subsequent_indent=" " * indent,
                                 break_on_hyphens=False).wrap(line.text)  # fmt: skip
    if len(parts) > max_rows:
        parts = [*parts[:max_rows - 1], parts[max_rows - 1][:width - 1] + "…"]
    first = Text.assemble(*head, (parts[0][lead:], style))
    return [first, *(Text(part[:indent]) + Text(part[indent:], style) for part in parts[1:])]


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
        """Redraw when the node's log, the TUI's lines or the size changed."""
        height, width = max(self.size.height, 1), self.size.width
        key = (snapshot.events[-height:], self._local_added, height, width)
        if not self.changed(key):
            return
        merged = sorted([*snapshot.events, *self.local], key=lambda line: line.time_ms)
        rows: list[Text] = []
        for line in reversed(merged[-height:]):  # newest first, until the pane is full
            room = height - len(rows)
            if room <= 0:
                break
            rows[:0] = event_rows(line, width, min(room, MAX_EVENT_ROWS))
        self.set_rows(rows)

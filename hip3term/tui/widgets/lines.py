"""`LinePane`: a pane drawn with Textual's Line API from rows of pre-rendered `Text`.

Why not `Static` or `DataTable`: a `DataTable` repaint measured 14-23 ms (DESIGN.md
section 5), and a `Static` re-renders and re-measures its whole content on every update.
A `LinePane` keeps one `Strip` per row, compares the new rows with the old ones and
repaints only the rows that changed (`refresh` of one-line regions); an unchanged pane
costs one comparison per row. Subclasses turn their slice of the snapshot into rows in
`show()` and skip even that when the slice is unchanged (`changed()`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from rich.text import Text
from textual.events import Resize
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from hip3term.runtime.snapshot import NodeSnapshot

__all__ = ["LinePane"]

_UNSET: Hashable = object()


class LinePane(Widget):
    """A widget whose content is a list of one-line `Text` rows (no wrapping, cropped)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._rows: list[Text] = []
        self._strips: dict[int, Strip] = {}
        self._strip_width = -1
        self._key: Hashable = _UNSET
        self._snapshot: NodeSnapshot | None = None

    def draw(self, snapshot: NodeSnapshot) -> None:
        """Show `snapshot` (remembered, so a resize can redraw it)."""
        self._snapshot = snapshot
        self.show(snapshot)

    # ------------------------------------------------------------ for subclasses

    def show(self, snapshot: NodeSnapshot) -> None:
        """Build the rows of `snapshot` (subclasses; call `changed` first to skip work)."""
        raise NotImplementedError

    def changed(self, key: Hashable) -> bool:
        """True (and remember `key`) when this pane's slice differs from the last one shown."""
        if key == self._key:
            return False
        self._key = key
        return True

    def set_rows(self, rows: Sequence[Text]) -> None:
        """Replace the content; repaint only the rows that differ."""
        old = self._rows
        self._rows = list(rows)
        dirty = [
            y for y in range(max(len(old), len(rows)))
            if y >= len(old) or y >= len(rows) or old[y] != rows[y]
        ]  # fmt: skip
        for y in dirty:
            self._strips.pop(y, None)
        for start, count in _runs(dirty):
            self.refresh(Region(0, start, max(self.size.width, 1), count))

    @property
    def rows(self) -> list[Text]:
        """The rows shown now (for tests and the text dump)."""
        return list(self._rows)

    def text_lines(self) -> list[str]:
        """The rows as plain strings (what the operator reads, without colour)."""
        return [row.plain for row in self._rows]

    # ------------------------------------------------------------ Line API

    def render_line(self, y: int) -> Strip:
        """One row as a strip, from the cache unless it changed or the width did."""
        width = self.size.width
        if width != self._strip_width:
            self._strips.clear()
            self._strip_width = width
        strip = self._strips.get(y)
        if strip is None:
            strip = self._render_row(y, width)
            self._strips[y] = strip
        return strip

    def _render_row(self, y: int, width: int) -> Strip:
        base = self.rich_style
        if y >= len(self._rows):
            return Strip.blank(width, base)
        text = self._rows[y].copy()
        text.no_wrap = True
        text.stylize_before(base)
        return Strip(text.render(self.app.console)).crop_extend(0, width, base)

    def on_resize(self, event: Resize) -> None:
        """Rows depend on the size in some panes: rebuild them for the new size."""
        self._strips.clear()
        self._key = _UNSET
        if self._snapshot is not None:
            self.show(self._snapshot)

    def notify_style_update(self) -> None:
        """A theme or class change: drop the cached strips."""
        super().notify_style_update()
        self._strips.clear()


def _runs(ys: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for y in ys:
        if runs and runs[-1][0] + runs[-1][1] == y:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((y, 1))
    return runs

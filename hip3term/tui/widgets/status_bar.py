"""The status bar (two lines, always on top) and the latch banner under it.

Line 1: the venue badge (SIM, TESTNET, MAINNET LIVE in red, OBSERVE), market, phase,
latch state and reason, the four READY-TRADING flags.
Line 2: the websocket (connected, round trip, reconnects, malformed/gaps), the age of
each market-data channel, the dead-man switch, the recorder and the journal.

A line wider than the bar drops its least important parts, not its last ones (`_fit`):
the round trip, fresh channel ages and the dead-man note go before a stale channel, the
recorder's or the journal's state, or the READY flags.

The banner is a full-width line shown only while the latch is not ACTIVE: red for HALTED
and TRIPPED (with the reason and the key that resumes), amber for PAUSED.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.style import Style
from rich.text import Text

from hip3term.core.events import LatchState
from hip3term.runtime.snapshot import FeedStatus, LatchStatus, NodeSnapshot
from hip3term.tui import palette as pal
from hip3term.tui.widgets.lines import LinePane

__all__ = ["LatchBanner", "StatusBar", "banner_text", "latch_reason", "status_rows",
           "venue_badge"]

_CHANNEL_SHORT = {
    "l2Book": "book", "bbo": "bbo", "trades": "trades", "activeAssetCtx": "ctx",
    "orderUpdates": "orders", "userFills": "fills", "userEvents": "events",
    "webData2": "web", "allMids": "mids",
}  # fmt: skip
_READY_SHORT = (("market_data", "data"), ("order_updates", "orders"),
                ("fills_snapshot", "fills"), ("positions_synced", "positions"))  # fmt: skip


def venue_badge(venue: str, mode: str) -> tuple[str, Style]:
    """The badge text and style: SIM, TESTNET, MAINNET LIVE (red), or `... OBSERVE`."""
    name = venue.strip().upper() or "?"
    if mode == "observe":
        return f" {name} OBSERVE ", pal.BADGE_OBSERVE
    if name == "MAINNET":
        return " MAINNET LIVE ", pal.BADGE_MAINNET_LIVE
    if name == "TESTNET":
        return " TESTNET ", pal.BADGE_TESTNET
    return f" {name} ", pal.BADGE_SIM


def latch_reason(latch: LatchStatus) -> str:
    """The latch's reason without the trigger twice ("operator: operator: ..." reads badly)."""
    trigger = str(latch.trigger) if latch.trigger is not None else ""
    if not trigger or latch.detail.startswith(trigger):
        return latch.detail
    return latch.reason


def _dead_man(text: str) -> str:
    # "refused: <the exchange's long text>" is in the events log; the bar says the gist
    return "refused (client cancel-all)" if text.startswith("refused") else text[:28]


def _latch_style(state: LatchState) -> Style:
    return {LatchState.ACTIVE: pal.OK, LatchState.PAUSED: pal.WARN}.get(state, pal.BAD)


# How readily a part of a status line is dropped when the line is too wide (`_fit`):
# the highest rank goes first; _KEEP never goes.
_KEEP, _STALE, _NOTE, _AGE, _DETAIL = 0, 1, 2, 3, 4


class _Part(NamedTuple):
    text: Text
    rank: int
    sep: str = "  "  # put before it, unless it comes first


def _fit(parts: list[_Part], width: int) -> Text:
    """Join `parts`; while wider than `width` cells, leave out the part of the highest
    rank (the last of them first), never a _KEEP part."""
    parts = list(parts)
    while True:
        line = Text()
        for i, part in enumerate(parts):
            if i:
                line.append(part.sep)
            line.append_text(part.text)
        rank = max((part.rank for part in parts), default=_KEEP)
        if line.cell_len <= width or rank == _KEEP:
            return line
        del parts[max(i for i, part in enumerate(parts) if part.rank == rank)]


def _line1(snap: NodeSnapshot) -> list[_Part]:
    badge, badge_style = venue_badge(snap.venue, snap.mode)
    latch = snap.latch
    parts = [
        _Part(Text(badge, badge_style), _KEEP),
        _Part(Text(snap.market, pal.VALUE + Style(bold=True)), _KEEP),
        _Part(Text(snap.phase, pal.WARN if snap.phase != "running" else pal.DIM),
              _DETAIL if snap.phase == "running" else _KEEP),
        _Part(pal.pair("latch", latch.state.value.upper(), _latch_style(latch.state)), _KEEP),
    ]  # fmt: skip
    if latch_reason(latch):  # the banner under the bar says it whole
        parts.append(_Part(Text(latch_reason(latch)[:60], pal.WARN), _NOTE))
    ready = Text("READY ", pal.LABEL)
    for attr, short in _READY_SHORT:
        ok = bool(getattr(snap.ready, attr))
        ready.append(("●" if ok else "○") + short + " ", pal.OK if ok else pal.BAD)
    parts.append(_Part(ready, _KEEP))
    return parts


def _feed(feed: FeedStatus | None) -> list[_Part]:
    if feed is None:
        return [_Part(Text("ws —", pal.DIM), _KEEP)]
    up = Text("● up", pal.OK) if feed.connected else Text("○ down", pal.BAD)
    link = Text("ws ", pal.LABEL) + up
    rtt = "—" if feed.rtt_ms is None else f"{feed.rtt_ms:.1f}ms"
    parts = [_Part(link, _KEEP), _Part(pal.pair("rtt", rtt), _DETAIL),
             _Part(pal.pair("reconnects", str(feed.reconnects),
                            pal.WARN if feed.reconnects else pal.VALUE),
                   _STALE if feed.reconnects else _DETAIL)]  # fmt: skip
    bad = feed.malformed + feed.gaps
    if bad:
        parts.append(_Part(pal.pair("malformed/gaps", f"{feed.malformed}/{feed.gaps}",
                                    pal.WARN), _STALE))  # fmt: skip
    first_age = True
    for ch in feed.channels:
        if not ch.subscribed or ch.name not in _CHANNEL_SHORT:
            continue
        stale = (ch.stale_after_s is not None and ch.last_frame_age_s is not None
                 and ch.last_frame_age_s > ch.stale_after_s)  # fmt: skip
        age = Text(f"{_CHANNEL_SHORT[ch.name]} ", pal.LABEL) + Text(
            pal.fmt_age(ch.last_frame_age_s), pal.BAD if stale else pal.VALUE)
        # the ages read as one group: one space between them
        parts.append(_Part(age, _STALE if stale else _AGE, "  " if first_age else " "))
        first_age = False
    return parts


def _line2(snap: NodeSnapshot) -> list[_Part]:
    parts = _feed(snap.feed)
    if snap.dead_man not in ("off", ""):
        parts.append(_Part(pal.pair("dead-man", _dead_man(snap.dead_man), pal.DIM), _NOTE))
    if snap.recorder is not None:
        rec_ok = snap.recorder.errors == 0
        parts.append(_Part(pal.pair("rec", "ok" if rec_ok else "ERR",
                               pal.OK if rec_ok else pal.BAD), _KEEP))  # fmt: skip
    if snap.journal is not None:
        j = snap.journal
        ok = not j.lagging and j.errors == 0
        parts.append(_Part(pal.pair("journal", "ok" if ok else "LAG",
                               pal.OK if ok else pal.WARN), _KEEP))  # fmt: skip
    return parts


def status_rows(snap: NodeSnapshot, width: int) -> list[Text]:
    """The bar's two lines, each fitted to `width` cells (see `_fit`)."""
    return [_fit(_line1(snap), width), _fit(_line2(snap), width)]


def banner_text(snap: NodeSnapshot) -> tuple[Text, str] | None:
    """The latch banner and its CSS class ("-danger" or "-paused"), None while ACTIVE."""
    latch = snap.latch
    if latch.state is LatchState.ACTIVE:
        return None
    when = f" ({pal.fmt_clock(latch.tripped_ms)} UTC)" if latch.tripped_ms else ""
    reason = latch_reason(latch) or "operator"
    if latch.state is LatchState.PAUSED:
        text = (f" ■ PAUSED — press p to unpause — {reason}{when}: no new orders; resting "
                "orders stay.")  # fmt: skip
        return Text(text), "-paused"
    what = ("new orders stopped, open orders canceled, positions flattened"
            if latch.state is LatchState.TRIPPED else
            "new orders stopped, open orders canceled")  # fmt: skip
    text = f" ■ {latch.state.value.upper()} — press r to resume — {reason}{when}: {what}."
    return Text(text), "-danger"


class StatusBar(LinePane):
    """The two status lines (see the module docstring)."""

    def show(self, snapshot: NodeSnapshot) -> None:
        """Redraw when a shown value changed (ages at 0.1 s); the rows fit the width."""
        rows = status_rows(snapshot, self.size.width)
        if self.changed(tuple(row.plain for row in rows)):
            self.set_rows(rows)


class LatchBanner(LinePane):
    """The latch banner; hidden (`display: none`) while the latch is ACTIVE."""

    alerted = False

    def show(self, snapshot: NodeSnapshot) -> None:
        """Show, hide or restyle the banner when the latch changed."""
        if self.alerted or not self.changed(snapshot.latch):
            return
        banner = banner_text(snapshot)
        self.set_class(banner is not None and banner[1] == "-danger", "-danger")
        self.set_class(banner is not None and banner[1] == "-paused", "-paused")
        self.display = banner is not None
        self.set_rows([banner[0]] if banner else [])

    def alert(self, text: str) -> None:
        """Show an alert that no snapshot will clear (the engine stopped)."""
        self.alerted = True
        self.set_class(True, "-danger")
        self.display = True
        self.set_rows([Text(f" ■ {text}")])

"""The status bar (two lines, always on top) and the latch banner under it.

Line 1: the venue badge (SIM, TESTNET, MAINNET LIVE in red, OBSERVE), market, phase,
latch state and reason, the four READY-TRADING flags.
Line 2: the websocket (connected, round trip, reconnects, malformed/gaps), the age of
each market-data channel, the dead-man switch, the recorder and the journal.

The banner is a full-width line shown only while the latch is not ACTIVE: red for HALTED
and TRIPPED (with the reason and the key that resumes), amber for PAUSED.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from hip3term.core.events import LatchState
from hip3term.runtime.snapshot import FeedStatus, LatchStatus, NodeSnapshot
from hip3term.tui import palette as pal
from hip3term.tui.widgets.lines import LinePane

__all__ = ["LatchBanner", "StatusBar", "banner_text", "latch_reason", "venue_badge"]

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


def _line1(snap: NodeSnapshot) -> Text:
    badge, badge_style = venue_badge(snap.venue, snap.mode)
    latch = snap.latch
    parts = [
        Text(badge, badge_style), Text(snap.market, pal.VALUE + Style(bold=True)),
        Text(snap.phase, pal.WARN if snap.phase != "running" else pal.DIM),
        pal.pair("latch", latch.state.value.upper(), _latch_style(latch.state)),
    ]  # fmt: skip
    if latch_reason(latch):
        parts.append(Text(latch_reason(latch)[:60], pal.WARN))
    ready = Text("READY ", pal.LABEL)
    for attr, short in _READY_SHORT:
        ok = bool(getattr(snap.ready, attr))
        ready.append(("●" if ok else "○") + short + " ", pal.OK if ok else pal.BAD)
    parts.append(ready)
    return pal.join(parts, "  ")


def _feed(feed: FeedStatus | None) -> list[Text]:
    if feed is None:
        return [Text("ws —", pal.DIM)]
    up = Text("● up", pal.OK) if feed.connected else Text("○ down", pal.BAD)
    link = Text("ws ", pal.LABEL) + up
    rtt = "—" if feed.rtt_ms is None else f"{feed.rtt_ms:.1f}ms"
    parts = [link, pal.pair("rtt", rtt),
             pal.pair("reconnects", str(feed.reconnects),
                      pal.WARN if feed.reconnects else pal.VALUE)]
    bad = feed.malformed + feed.gaps
    if bad:
        parts.append(pal.pair("malformed/gaps", f"{feed.malformed}/{feed.gaps}", pal.WARN))
    ages = Text()
    for ch in feed.channels:
        if not ch.subscribed or ch.name not in _CHANNEL_SHORT:
            continue
        stale = (ch.stale_after_s is not None and ch.last_frame_age_s is not None
                 and ch.last_frame_age_s > ch.stale_after_s)  # fmt: skip
        ages.append(f"{_CHANNEL_SHORT[ch.name]} ", pal.LABEL)
        ages.append(f"{pal.fmt_age(ch.last_frame_age_s)} ", pal.BAD if stale else pal.VALUE)
    if ages:
        parts.append(ages)
    return parts


def _line2(snap: NodeSnapshot) -> Text:
    parts = _feed(snap.feed)
    if snap.dead_man not in ("off", ""):
        parts.append(pal.pair("dead-man", _dead_man(snap.dead_man), pal.DIM))
    if snap.recorder is not None:
        rec_ok = snap.recorder.errors == 0
        parts.append(pal.pair("rec", "ok" if rec_ok else "ERR", pal.OK if rec_ok else pal.BAD))
    if snap.journal is not None:
        j = snap.journal
        ok = not j.lagging and j.errors == 0
        parts.append(pal.pair("journal", "ok" if ok else "LAG", pal.OK if ok else pal.WARN))
    return pal.join(parts, "  ")


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
        """Redraw when a shown value changed (ages at 0.1 s)."""
        rows = [_line1(snapshot), _line2(snapshot)]
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

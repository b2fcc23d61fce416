"""TradingReadyChecker: READY-TRADING and its four flags.

READY-TRADING = market data ready AND the orderUpdates subscription acknowledged AND the
userFills snapshot (`isSnapshot: true`) received AND positions synced with the exchange
(clearinghouseState and open orders loaded: `PositionTracker` emits `PositionsSynced`).

A disconnect clears all four flags: after a reconnect every one must be earned again on
the new connection (resubscribe, snapshot, reconcile), because orderUpdates does not
replay what was missed. To keep an answer from the old connection from counting for the
new one, `on_connected()` returns a session number; the setters take it (optional) and
ignore a stale one. The market-data flag also follows staleness while connected (the
feed reports it with `set_market_data`).

Every change of READY-TRADING returns one `TradingReadyChanged` event with the flags.
"""

from __future__ import annotations

from dataclasses import dataclass

from hip3term.core.events import TradingReadyChanged

__all__ = ["ReadyFlags", "TradingReadyChecker"]


@dataclass(frozen=True, slots=True)
class ReadyFlags:
    """The four conditions of READY-TRADING, as the TUI shows them."""

    market_data: bool = False
    order_updates: bool = False
    fills_snapshot: bool = False
    positions_synced: bool = False

    @property
    def ready(self) -> bool:
        """All four hold."""
        return self.market_data and self.order_updates and self.fills_snapshot and (
            self.positions_synced
        )

    @property
    def missing(self) -> tuple[str, ...]:
        """Names of the flags that do not hold, in order."""
        names = ("market_data", "order_updates", "fills_snapshot", "positions_synced")
        return tuple(name for name in names if not getattr(self, name))


class TradingReadyChecker:
    """Holds the flags; each setter returns the events its change caused (0 or 1)."""

    def __init__(self) -> None:
        """Start disconnected: nothing is ready."""
        self._flags = ReadyFlags()
        self._session = 0
        self._connected = False

    @property
    def flags(self) -> ReadyFlags:
        """The flags now."""
        return self._flags

    @property
    def ready(self) -> bool:
        """READY-TRADING."""
        return self._flags.ready

    @property
    def session(self) -> int:
        """The number of the current connection (0 before the first)."""
        return self._session

    @property
    def connected(self) -> bool:
        """Whether a connection is up."""
        return self._connected

    def on_connected(self, now_ms: int) -> tuple[int, list[TradingReadyChanged]]:
        """A new connection is up; returns its session number (flags start cleared)."""
        events = self._set(ReadyFlags(), now_ms, "connected")
        self._session += 1
        self._connected = True
        return self._session, events

    def on_disconnect(self, now_ms: int, reason: str = "disconnected") -> list[
        TradingReadyChanged
    ]:
        """The connection dropped: every flag is lost."""
        self._connected = False
        return self._set(ReadyFlags(), now_ms, reason)

    def set_market_data(
        self, ready: bool, now_ms: int, session: int | None = None, reason: str = ""
    ) -> list[TradingReadyChanged]:
        """Market data became usable (book and context fresh) or stale."""
        return self._update(session, now_ms, reason or "market data", market_data=ready)

    def on_order_updates_ack(
        self, now_ms: int, session: int | None = None
    ) -> list[TradingReadyChanged]:
        """The orderUpdates subscription was acknowledged."""
        return self._update(session, now_ms, "orderUpdates acknowledged", order_updates=True)

    def on_fills_snapshot(
        self, now_ms: int, session: int | None = None
    ) -> list[TradingReadyChanged]:
        """The userFills snapshot arrived."""
        return self._update(session, now_ms, "userFills snapshot", fills_snapshot=True)

    def on_positions_synced(
        self, now_ms: int, session: int | None = None
    ) -> list[TradingReadyChanged]:
        """The reconcile finished (`PositionsSynced`)."""
        return self._update(session, now_ms, "positions synced", positions_synced=True)

    def _update(self, session: int | None, now_ms: int, reason: str,
                **changes: bool) -> list[TradingReadyChanged]:  # fmt: skip
        if not self._connected or (session is not None and session != self._session):
            return []  # from an old connection, or none is up
        flags = self._flags
        merged = ReadyFlags(
            changes.get("market_data", flags.market_data),
            changes.get("order_updates", flags.order_updates),
            changes.get("fills_snapshot", flags.fills_snapshot),
            changes.get("positions_synced", flags.positions_synced),
        )
        return self._set(merged, now_ms, reason)

    def _set(self, flags: ReadyFlags, now_ms: int, reason: str) -> list[TradingReadyChanged]:
        was = self._flags.ready
        self._flags = flags
        if flags.ready == was:
            return []
        why = reason if flags.ready else f"{reason} (missing: {', '.join(flags.missing)})"
        return [TradingReadyChanged(now_ms, flags.ready, flags.market_data, flags.order_updates,
                                    flags.fills_snapshot, flags.positions_synced, why)]  # fmt: skip

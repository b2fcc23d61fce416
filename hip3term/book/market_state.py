"""The state of one market: merged book, recent trades, oracle and mark, features.

Pure and synchronous (standard library only). It reads the venue's parsed messages
through the structural protocols of `book.inputs` (`BookFrame`, `BboFrame`, `TradesFrame`,
`AssetCtxFrame`), so it does not depend on the venue package; the Hyperliquid messages of
`venue.hyperliquid.wire` satisfy them. Every update takes the local receive time
`local_ns` (the injected clock's `monotonic_ns`); ages and windows are measured on it.

Merge rules of the book (l2Book snapshots and bbo quotes, by exchange time):

- an l2Book older than the last one is ignored (counted in `counters["stale_frames"]`);
  otherwise it replaces the depth. If it is at least as new as the last bbo it replaces
  everything (the bbo no longer applies); if the bbo is newer, the bbo stays on top;
- a bbo older than the newest of both sources is ignored (counted the same way);
  otherwise it replaces the top of both sides: the book's bids at or above the bbo bid
  and asks at or below the bbo ask are dropped and the bbo levels put in front. A `null`
  side in a bbo means that side is empty. On equal times, the later arrival wins;
- the merged book never crosses: a bbo that is itself crossed is refused, and an l2Book
  whose best bid reaches its best ask has the crossing levels of both sides dropped until
  it no longer crosses (`counters["crossed"]` counts both).

Merging is lazy: an update stores the frame's ladders (which the parser converts to
`Decimal` on demand) and the merged depth is built only when `bids()` / `asks()` are
read; the top of the book costs one level per side. Features that depend only on the top
of the book or on the context (the top features, the dislocations, mark-oracle) are kept
until those change; the ones that age with time are computed at every read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Final

from hip3term.book.features import (
    VOL_WINDOWS_S,
    Feature,
    Features,
    FeatureSettings,
    OracleFeatures,
    RealizedVolatility,
    TopFeatures,
    TradeFlow,
    dislocation_bps,
    finite_feature,
    price_float,
    relative_bps,
    top_features,
)
from hip3term.book.inputs import (
    AssetCtxFrame,
    BboFrame,
    BookFrame,
    LevelLike,
    TradeLike,
    TradesFrame,
    best_level,
)
from hip3term.core.records import new_tuple

__all__ = [
    "AssetContext",
    "AssetCtxFrame",
    "BboFrame",
    "BookFrame",
    "LevelLike",
    "MarketState",
    "TradeLike",
    "TradesFrame",
]

_NS_PER_S: Final = 1_000_000_000
_NS_PER_MS: Final = 1_000_000
_COUNTERS = ("stale_frames", "crossed", "other_coin", "duplicate_trades")


@dataclass(frozen=True, slots=True, init=False, eq=False)  # hot: see _native
class AssetContext:
    """The last activeAssetCtx of the market, with local receive times. Each context
    received is a new record: two are equal only when they are the same one (what the
    engine's tick key asks).

    Attributes:
        oracle_px, mark_px, mid_px, funding, open_interest, premium: as the exchange sent
            them (`mid_px` and `premium` None for a book-less market).
        received_ns: local time this context arrived.
        oracle_changed_ns: local time the oracle price last changed (the first context
            received counts as a change).
    """

    oracle_px: Decimal
    mark_px: Decimal
    mid_px: Decimal | None
    funding: Decimal
    open_interest: Decimal
    premium: Decimal | None
    received_ns: int
    oracle_changed_ns: int

    def __init__(self, oracle_px: Decimal, mark_px: Decimal, mid_px: Decimal | None,
                 funding: Decimal, open_interest: Decimal, premium: Decimal | None,
                 received_ns: int, oracle_changed_ns: int) -> None:  # fmt: skip
        object.__setattr__(self, "oracle_px", oracle_px)
        object.__setattr__(self, "mark_px", mark_px)
        object.__setattr__(self, "mid_px", mid_px)
        object.__setattr__(self, "funding", funding)
        object.__setattr__(self, "open_interest", open_interest)
        object.__setattr__(self, "premium", premium)
        object.__setattr__(self, "received_ns", received_ns)
        object.__setattr__(self, "oracle_changed_ns", oracle_changed_ns)

    def oracle_age_s(self, now_ns: int) -> float:
        """Seconds since the oracle price last changed."""
        return max(0, now_ns - self.oracle_changed_ns) / _NS_PER_S


class MarketState:
    """Book, trades, oracle/mark and features of one coin. Not thread-safe.

    Args:
        coin: the exchange's name of the market, e.g. "xyz:AAPL"; frames of other coins
            are ignored (counted in `counters["other_coin"]`).
        settings: freshness thresholds and windows of the features.
    """

    CHANNELS: ClassVar[frozenset[str]] = frozenset({"l2Book", "bbo", "trades",
                                                    "activeAssetCtx"})
    """The channels `apply` consumes."""

    def __init__(self, coin: str, settings: FeatureSettings | None = None) -> None:
        self.coin = coin
        self.settings = settings or FeatureSettings()
        self.counters: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self._book_stale_ns = round(self.settings.book_stale_after_s * _NS_PER_S)
        self._ctx_stale_ns = round(self.settings.ctx_stale_after_s * _NS_PER_S)
        self._frozen_ns = round(self.settings.oracle_frozen_after_s * _NS_PER_S)
        self._trades: deque[TradeLike] = deque()
        self._tids: set[int] = set()
        self._vol = RealizedVolatility(VOL_WINDOWS_S)
        self._flow = TradeFlow(round(self.settings.flow_window_s * 1000))
        # `apply` dispatches on the message's channel name (the protocol type is the
        # channel's: a message without one of these names is not applied)
        self._appliers: dict[str, Callable[[Any, int], bool]] = {
            "l2Book": self.on_l2_book, "bbo": self.on_bbo,
            "trades": self._apply_trades, "activeAssetCtx": self.on_asset_ctx,
        }
        self.reset()

    def reset(self) -> None:
        """Forget the book, trades, context and feature history (counters are kept)."""
        self._book_bids: Sequence[LevelLike] = ()
        self._book_asks: Sequence[LevelLike] = ()
        self._book_bid: LevelLike | None = None  # the snapshot's tops, read once per frame
        self._book_ask: LevelLike | None = None
        self._book_time_ms: int | None = None
        self._bbo: BboFrame | None = None
        self._merged: tuple[tuple[LevelLike, ...], tuple[LevelLike, ...]] | None = None
        self._top_ns: int | None = None
        self._exch_ms: int | None = None
        self._exch_ns = 0
        self._trades.clear()
        self._tids.clear()
        self._trades_seen = False
        self._ctx: AssetContext | None = None
        self._vol.restart()
        self._vol_top: tuple[Decimal, Decimal] | None = None  # the prices of the last mid
        self._flow.clear()
        # Features kept with what they were computed from: the top levels (by identity:
        # levels are immutable, and held here they cannot be recycled; the exact mid keeps
        # its operands' exponents), the prices behind the float-only ones (by value: equal
        # Decimals give equal floats), and the trackers' own answers (the same objects
        # while nothing came or left).
        self._top_cache: tuple[object, object, TopFeatures] | None = None
        self._ctx_cache: _CtxDerived | None = None
        self._pair_cache: tuple[float, Decimal, Decimal, _Pair | None] | None = None
        self._vol_cache: tuple[object, tuple[Feature[float], ...]] | None = None
        self._flow_cache: tuple[Decimal, Feature[float]] | None = None

    # -- updates ---------------------------------------------------------------------

    def apply(self, event: object, local_ns: int) -> bool:
        """Apply any parsed message; those of other channels are ignored.

        Dispatches on the message's `channel` attribute ("l2Book", "bbo", "trades",
        "activeAssetCtx").

        Returns:
            True when the message changed the state.
        """
        applier = self._appliers.get(getattr(event, "channel", ""))
        return applier(event, local_ns) if applier is not None else False

    def _apply_trades(self, frame: TradesFrame, local_ns: int) -> bool:
        return self.on_trades(frame, local_ns) > 0

    def on_l2_book(self, book: BookFrame, local_ns: int) -> bool:
        """Apply a full book snapshot received at `local_ns`; False when ignored."""
        if book.coin != self.coin:
            self.counters["other_coin"] += 1
            return False
        if self._book_time_ms is not None and book.time_ms < self._book_time_ms:
            self.counters["stale_frames"] += 1
            return False
        bids, asks = book.bids, book.asks
        bid, ask = best_level(bids), best_level(asks)
        if bid is not None and ask is not None and bid.px >= ask.px:
            bids, asks = _uncross(bids, asks)
            bid, ask = (bids[0] if bids else None), (asks[0] if asks else None)
            self.counters["crossed"] += 1
        self._book_bids, self._book_asks, self._book_time_ms = bids, asks, book.time_ms
        self._book_bid, self._book_ask = bid, ask
        if self._bbo is not None and self._bbo.time_ms <= book.time_ms:
            self._bbo = None
        self._touched(local_ns, book.time_ms)
        return True

    def on_bbo(self, bbo: BboFrame, local_ns: int) -> bool:
        """Apply a best bid/offer received at `local_ns`; False when ignored."""
        if bbo.coin != self.coin:
            self.counters["other_coin"] += 1
            return False
        book_ms, last = self._book_time_ms, self._bbo
        top_ms = -1 if book_ms is None else book_ms  # `_top_time_ms()`, in place
        if last is not None and last.time_ms > top_ms:
            top_ms = last.time_ms
        if bbo.time_ms < top_ms:
            self.counters["stale_frames"] += 1
            return False
        bid, ask = bbo.bid, bbo.ask
        if bid is not None and ask is not None and bid.px >= ask.px:
            self.counters["crossed"] += 1
            return False
        self._bbo = bbo
        self._touched(local_ns, bbo.time_ms)
        return True

    def on_trades(self, frame: TradesFrame, local_ns: int) -> int:
        """Record a push of trades; returns how many were new (duplicates by tid skipped)."""
        added = 0
        trades, tids, maxlen = self._trades, self._tids, self.settings.max_trades
        if not frame.trades:
            self._trades_seen = True  # an empty push (no recent trades) still shows the feed
        for trade in frame.trades:
            if trade.coin != self.coin:
                self.counters["other_coin"] += 1
                continue
            self._trades_seen = True
            if trade.tid in tids:
                self.counters["duplicate_trades"] += 1
                continue
            if len(trades) >= maxlen:
                tids.discard(trades.popleft().tid)
            trades.append(trade)
            tids.add(trade.tid)
            self._flow.add(trade.time_ms, trade.sz if trade.side == "B" else -trade.sz)
            self._saw_exchange_time(trade.time_ms, local_ns)
            added += 1
        return added

    def on_asset_ctx(self, ctx: AssetCtxFrame, local_ns: int) -> bool:
        """Record the market's context (oracle, mark, funding, OI); False when ignored."""
        if ctx.coin != self.coin:
            self.counters["other_coin"] += 1
            return False
        previous = self._ctx
        changed = previous is None or previous.oracle_px != ctx.oracle_px
        self._ctx = AssetContext(
            ctx.oracle_px, ctx.mark_px, ctx.mid_px, ctx.funding, ctx.open_interest,
            ctx.premium, local_ns,
            local_ns if changed or previous is None else previous.oracle_changed_ns,
        )
        return True

    def _top_time_ms(self) -> int:
        book_ms = -1 if self._book_time_ms is None else self._book_time_ms
        return book_ms if self._bbo is None else max(book_ms, self._bbo.time_ms)

    def _saw_exchange_time(self, time_ms: int, local_ns: int) -> None:
        if self._exch_ms is None or time_ms >= self._exch_ms:
            self._exch_ms, self._exch_ns = time_ms, local_ns

    def _touched(self, local_ns: int, time_ms: int) -> None:
        # After every book change: drop the merged cache, feed the volatility tracker
        # (a gap longer than the staleness threshold restarts its history).
        self._merged = None
        vol = self._vol
        if self._top_ns is not None and local_ns - self._top_ns > self._book_stale_ns:
            vol.restart()
            self._vol_top = None
        self._top_ns = local_ns
        if self._exch_ms is None or time_ms >= self._exch_ms:
            self._exch_ms, self._exch_ns = time_ms, local_ns
        bbo = self._bbo
        bid, ask = (self._book_bid, self._book_ask) if bbo is None else (bbo.bid, bbo.ask)
        if bid is None or ask is None:
            vol.restart()
            self._vol_top = None
            return
        # the tracker ignores a mid equal to the last one: equal prices, equal mid
        bid_px, ask_px = bid.px, ask.px
        last = self._vol_top
        if last is None or (last[0] is not bid_px and last[0] != bid_px) or (
                last[1] is not ask_px and last[1] != ask_px):
            vol.observe(local_ns, float(bid_px + ask_px) / 2.0)
            self._vol_top = (bid_px, ask_px)

    # -- reads -----------------------------------------------------------------------

    @property
    def best_bid(self) -> LevelLike | None:
        """The best bid of the merged book, or None when the bid side is empty."""
        return self._book_bid if self._bbo is None else self._bbo.bid

    @property
    def best_ask(self) -> LevelLike | None:
        """The best ask of the merged book, or None when the ask side is empty."""
        return self._book_ask if self._bbo is None else self._bbo.ask

    def bids(self) -> tuple[LevelLike, ...]:
        """The merged bid side, best first (strictly decreasing prices)."""
        return self._merged_sides()[0]

    def asks(self) -> tuple[LevelLike, ...]:
        """The merged ask side, best first (strictly increasing prices)."""
        return self._merged_sides()[1]

    def _merged_sides(self) -> tuple[tuple[LevelLike, ...], tuple[LevelLike, ...]]:
        if self._merged is None:
            bbo = self._bbo
            if bbo is None:
                self._merged = (tuple(self._book_bids), tuple(self._book_asks))
            else:
                bid, ask = bbo.bid, bbo.ask
                bids = () if bid is None else (bid, *(
                    level for level in self._book_bids if level.px < bid.px))
                asks = () if ask is None else (ask, *(
                    level for level in self._book_asks if level.px > ask.px))
                self._merged = (bids, asks)
        return self._merged

    @property
    def mid(self) -> Decimal | None:
        """`(best_bid + best_ask) / 2`, or None when a side is empty."""
        bid, ask = self.best_bid, self.best_ask
        return None if bid is None or ask is None else (bid.px + ask.px) / 2

    @property
    def book_time_ms(self) -> int | None:
        """Exchange time of the newest book source (l2Book or bbo), None before any."""
        top = self._top_time_ms()
        return None if top < 0 else top

    def book_age_s(self, now_ns: int) -> float | None:
        """Seconds since the last book update (l2Book or bbo), None before any."""
        if self._top_ns is None:
            return None
        age_ns = now_ns - self._top_ns
        return (age_ns if age_ns > 0 else 0) / _NS_PER_S

    @property
    def recent_trades(self) -> Sequence[TradeLike]:
        """The most recent trades (at most `settings.max_trades`), oldest first."""
        return tuple(self._trades)

    @property
    def ctx(self) -> AssetContext | None:
        """The last activeAssetCtx, None before any."""
        return self._ctx

    def exchange_now_ms(self, now_ns: int) -> int | None:
        """Estimated exchange time at local `now_ns`: the newest exchange time seen plus
        the local time elapsed since it arrived. None before any timed frame."""
        if self._exch_ms is None:
            return None
        return self._exch_ms + (now_ns - self._exch_ns) // _NS_PER_MS

    # -- features --------------------------------------------------------------------

    def features(self, now_ns: int) -> Features:
        """All features at local time `now_ns` (see `book.features` for definitions)."""
        bbo = self._bbo
        bid, ask = (self._book_bid, self._book_ask) if bbo is None else (bbo.bid, bbo.ask)
        book_reason = self._book_reason(now_ns, bid, ask)
        if book_reason or bid is None or ask is None:
            reason = book_reason or "no top of book"
            mid: Feature[Decimal] = Feature.invalid(reason)
            micro = spread = imb = Feature[float].invalid(reason)
        else:
            mid, micro, spread, imb = self._top_features(bid, ask)
        buy, sell, mark_oracle, oracle_age = self._oracle_features(now_ns, bid, ask, book_reason)
        rv_1s, rv_10s, rv_60s = self._vol_features(now_ns, book_reason)
        return Features(
            now_ns, mid, micro, spread, imb, buy, sell, mark_oracle, oracle_age, rv_1s, rv_10s,
            rv_60s, self._flow_feature(now_ns, book_reason),
        )

    def oracle_features(self, now_ns: int) -> OracleFeatures:
        """The four oracle features of `features(now_ns)` alone (the same values), for a
        rule that reads only those on every update (see `book.features.OracleFeatures`)."""
        bbo = self._bbo
        bid, ask = (self._book_bid, self._book_ask) if bbo is None else (bbo.bid, bbo.ask)
        return self._oracle_features(now_ns, bid, ask, self._book_reason(now_ns, bid, ask))

    def _book_reason(self, now_ns: int, bid: LevelLike | None, ask: LevelLike | None) -> str:
        # `bid`, `ask`: the top of the merged book now
        if self._top_ns is None:
            return "no book yet"
        age_ns = now_ns - self._top_ns
        if age_ns > self._book_stale_ns:
            return f"book stale ({age_ns / _NS_PER_S:.1f} s)"
        if bid is None or ask is None:
            return "bid side empty" if bid is None else "ask side empty"
        return ""

    def _top_features(self, bid: LevelLike, ask: LevelLike) -> TopFeatures:
        cached = self._top_cache
        if cached is not None and cached[0] is bid and cached[1] is ask:
            return cached[2]
        top = top_features(bid.px, ask.px, bid.sz, ask.sz)
        self._top_cache = (bid, ask, top)
        return top

    def _oracle_features(self, now_ns: int, bid: LevelLike | None, ask: LevelLike | None,
                         book_reason: str) -> OracleFeatures:
        ctx = self._ctx
        if ctx is None:
            bad: Feature[float] = Feature.invalid("no asset context yet")
            return _new_tuple(_ORACLE_FEATURES, bad, bad, bad, bad)
        ctx_age_ns = now_ns - ctx.received_ns
        if ctx_age_ns > self._ctx_stale_ns:
            bad = Feature.invalid(f"asset context stale ({ctx_age_ns / _NS_PER_S:.1f} s)")
            return _new_tuple(_ORACLE_FEATURES, bad, bad, bad, bad)
        derived = self._ctx_cache
        if derived is None or derived[0] is not ctx:
            derived = self._ctx_derived(ctx)
        oracle, mark_oracle = derived[3], derived[4]
        unchanged_ns = now_ns - ctx.oracle_changed_ns
        age_s = (unchanged_ns if unchanged_ns > 0 else 0) / _NS_PER_S
        reason = book_reason
        if not reason and (bid is None or ask is None):
            reason = "no top of book"
        if not reason and unchanged_ns > self._frozen_ns:
            reason = f"oracle frozen ({age_s:.1f} s unchanged)"
        pair: _Pair | None = None
        if not reason and bid is not None and ask is not None:
            # the dislocations change with the touch prices and the oracle only
            cached = self._pair_cache
            bid_px, ask_px = bid.px, ask.px
            # (the parser gives a price text seen lately the same Decimal: `is` first)
            if cached is None or cached[0] != oracle or (
                    cached[1] is not bid_px and cached[1] != bid_px) or (
                    cached[2] is not ask_px and cached[2] != ask_px):
                raw = dislocation_bps(price_float(bid_px), price_float(ask_px), oracle)
                cached = self._pair_cache = (oracle, bid_px, ask_px, None if raw is None else (
                    _new_tuple(_FEATURE, raw[0], ""), _new_tuple(_FEATURE, raw[1], "")))
            pair = cached[3]
        if pair is None:
            bad = Feature.invalid(reason or "oracle price not positive")
            return _new_tuple(_ORACLE_FEATURES, bad, bad, mark_oracle,
                              _new_tuple(_FEATURE, age_s, ""))
        return _new_tuple(_ORACLE_FEATURES, pair[0], pair[1], mark_oracle,
                          _new_tuple(_FEATURE, age_s, ""))

    def _ctx_derived(self, ctx: AssetContext) -> _CtxDerived:
        # the oracle as a float and mark-oracle, kept for `ctx` (and for a later context
        # of the same prices)
        cached = self._ctx_cache
        if cached is None or cached[1] != ctx.oracle_px or cached[2] != ctx.mark_px:
            oracle = price_float(ctx.oracle_px)
            cached = (ctx, ctx.oracle_px, ctx.mark_px, oracle, finite_feature(
                relative_bps(price_float(ctx.mark_px), oracle), "oracle price not positive"))
        else:
            cached = (ctx, *cached[1:])
        self._ctx_cache = cached
        return cached

    def _vol_features(self, now_ns: int, book_reason: str) -> tuple[Feature[float], ...]:
        if book_reason:
            bad: Feature[float] = Feature.invalid(book_reason)
            return tuple(bad for _ in VOL_WINDOWS_S)
        vol = self._vol
        values = vol.values_bps(now_ns)
        kept = self._vol_cache
        if kept is not None and kept[0] is values:  # the tracker's same answer
            return kept[1]
        if None not in values:
            features = tuple([_new_tuple(_FEATURE, value, "") for value in values])
            self._vol_cache = (values, features)
            return features
        covered_s = vol.covered_ns(now_ns) / _NS_PER_S
        return tuple(Feature[float].invalid(
            f"warming up ({covered_s:.1f} of {window_s:g} s covered)") if value is None
            else Feature(value) for value, window_s in zip(values, VOL_WINDOWS_S, strict=True))

    def _flow_feature(self, now_ns: int, book_reason: str) -> Feature[float]:
        if not self._trades_seen:
            return Feature.invalid("no trades frame yet")
        if book_reason:
            return Feature.invalid(book_reason)
        exch_now = self.exchange_now_ms(now_ns)
        if exch_now is None:
            return Feature.invalid("no exchange time yet")
        total = self._flow.value(exch_now)
        kept = self._flow_cache
        if kept is None or kept[0] is not total:  # the same sum object: nothing came or left
            kept = self._flow_cache = (total, _new_tuple(_FEATURE, float(total), ""))
        return kept[1]


# `_new_tuple(_FEATURE, value, "")` is `Feature(value)` (and `_new_tuple(_ORACLE_FEATURES,
# *four)` is `OracleFeatures(*four)`) without the named tuple's Python-level constructor:
# the hot paths build a few of them on every update (see core.records)
_new_tuple: Final = new_tuple
# (Final: compiled code reads them from C statics, not from the module's dict)
_FEATURE: Final = Feature
_ORACLE_FEATURES: Final = OracleFeatures
_Pair = tuple[Feature[float], Feature[float]]
_CtxDerived = tuple[AssetContext, Decimal, Decimal, float, Feature[float]]


def _uncross(bids: Sequence[LevelLike], asks: Sequence[LevelLike],
             ) -> tuple[tuple[LevelLike, ...], tuple[LevelLike, ...]]:
    # A snapshot that crosses itself has no newer source to trust: the crossing levels
    # of both sides contradict each other, so both go until the tops no longer cross.
    b, a = 0, 0
    while b < len(bids) and a < len(asks) and bids[b].px >= asks[a].px:
        b, a = b + 1, a + 1
    return tuple(bids[b:]), tuple(asks[a:])

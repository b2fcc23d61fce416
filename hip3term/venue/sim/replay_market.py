"""Replay of a recording's public frames as one market of the simulator (pure, streaming).

`RecordedMarket` is the simulator's second market driver, with the shape of
`SyntheticMarket` (`spec`, `oracle_px`, `mark_px`, `asset_ctx()`, `step(now_ms)` returning
a `StepResult`), so the exchange treats both alike. It reads the recorded frames lazily,
one at a time, and applies each when the simulated clock reaches its time:

- an ``l2Book`` snapshot of its coin *replaces the house liquidity* in the matching
  engine: the recorded levels become resting Gtc orders of a house account (a level of
  ``n`` orders becomes up to ``n`` orders, so `book_levels` shows the recorded px, sz and
  n), levels that did not change keep their orders and queue place, the others are
  canceled and placed again. User orders live in the same book: a user IOC fills at the
  recorded prices, and a recorded level that crosses a user's resting order trades with
  it (the market moved through the user's price). What a user takes stays taken until
  the next snapshot restores the recorded book;
- an ``activeAssetCtx`` of its coin sets the oracle and mark prices and the context that
  `asset_ctx()` returns (verbatim), with an `OraclePush` when oracle or mark changed;
- a ``trades`` frame surfaces the trades of its coin as public trades, stamped with the
  simulated time of the frame; they are *not* matched against the engine;
- every other frame (the greeting, acks, ``bbo``, ``pong``, other coins) is skipped.

Input: a JSON-lines file, one ``{"ts_ns": <int>, "frame": <the frame as a JSON object, or
its raw text>}`` per line, or any iterable of ``(ts_ns, frame)`` pairs with the frame as a
mapping, text or bytes. The second form replays a ``.h3rec`` recording without this module
depending on the recording layer::

    frames = ((r.wall_ns, r.raw) for r in RecordingReader(path) if r.kind == RecordKind.FRAME_IN)

Time: the first frame is due at the start time (the clock's time at construction) and a
frame recorded ``d`` ns after it at ``start + d / (1e6 * speed)`` ms, rounded down
(``speed`` 10 replays ten times faster). A frame recorded earlier than the one before it
is applied right after it (counted as ``out_of_order``).

Bad input is never fatal: a line that is not JSON, lacks ``ts_ns`` or ``frame``, or a
frame of this coin whose fields are broken (an unparsable price, a crossed book) is
counted (``malformed``), logged on ``hip3term.sim.replay`` and skipped. A recorded level
the engine cannot hold (worth less than the market's minimum order value, or off the
tick or lot of `spec`) is left out and counted (``levels_dropped``). At the end of the
input the market keeps its last book and context and `finished` turns true.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import orjson

from hip3term.core.clock import Clock
from hip3term.core.numeric import size_step, to_wire
from hip3term.errors import ConfigError, RecordingError
from hip3term.venue.sim.ledger import MarketSpec
from hip3term.venue.sim.market import OraclePush, StepResult
from hip3term.venue.sim.matching import MatchingEngine
from hip3term.venue.sim.records import FillRecord, OrderEvent, PlaceResult, Resting, Trade

__all__ = ["COUNTER_NAMES", "HOUSE_REPLAY", "RecordedMarket"]

logger = logging.getLogger("hip3term.sim.replay")

HOUSE_REPLAY: Final = "0x000000000000000000000000000000000000c33c"
"""The house account that holds the recorded book's liquidity."""

COUNTER_NAMES: Final = (
    "frames",
    "books",
    "ctxs",
    "trades",
    "skipped",
    "malformed",
    "out_of_order",
    "levels_dropped",
)

_H3REC_MAGIC: Final = b"\x89H3R\r\n\x1a\n"
_ZERO_HASH: Final = "0x" + "0" * 64
_ZERO_ADDRESS: Final = "0x" + "0" * 40
_NS_PER_MS: Final = 1_000_000

FrameSource = Iterable[tuple[int, object]]


class _MalformedError(ValueError):
    """A recorded line or frame that cannot be used (the message says why)."""


@dataclass(frozen=True, slots=True)
class _BookLevel:
    px: Decimal
    sz: Decimal
    n: int


@dataclass(slots=True)
class _HouseLevel:
    recorded: tuple[Decimal, int]  # recorded (sz, n)
    oids: tuple[int, ...]
    placed: Decimal  # total size that came to rest


@dataclass(slots=True)
class _Out:
    trades: list[Trade] = field(default_factory=list)
    fills: list[FillRecord] = field(default_factory=list)
    events: list[OrderEvent] = field(default_factory=list)
    pushes: list[OraclePush] = field(default_factory=list)

    def result(self) -> StepResult:
        return StepResult(
            trades=tuple(self.trades),
            fills=tuple(self.fills),
            events=tuple(self.events),
            oracle_pushes=tuple(self.pushes),
        )


class RecordedMarket:
    """One market of `engine` whose book, oracle, mark and trades come from a recording.

    Args:
        engine: The matching engine (it must list `spec`).
        spec: The market to drive; only frames of coin ``spec.name`` are used.
        path: A JSON-lines recording (see the module docstring), or an iterable of
            ``(ts_ns, frame)`` pairs; either is read lazily.
        speed: Replay speed factor (1 = real time, 10 = ten times faster); finite, > 0.
        clock: The simulator's clock: its time at construction is the start time, and
            `step()` without an argument steps to its current time.
        start_px: Oracle and mark before the recording gives them, while the book has no
            mid either.
        maker: Address of the house account that holds the recorded liquidity.

    Raises:
        ConfigError: `speed` is not a finite positive number.
        RecordingError: the file does not exist, cannot be read, or is a ``.h3rec``
            (also raised by `step` if reading fails later).
    """

    def __init__(
        self,
        engine: MatchingEngine,
        spec: MarketSpec,
        path: str | os.PathLike[str] | FrameSource,
        speed: float,
        clock: Clock,
        *,
        start_px: Decimal | None = None,
        maker: str = HOUSE_REPLAY,
    ) -> None:
        self._engine, self._spec, self._clock = engine, spec, clock
        self._ms_per_ns = _ms_per_ns(speed)
        self._maker = maker.lower()
        engine.ledger.open_account(self._maker, house=True)
        self._start_ms = self._t = clock.now_ms()
        self._counts = dict.fromkeys(COUNTER_NAMES, 0)
        self._counters_view = MappingProxyType(self._counts)
        self._house: dict[tuple[bool, Decimal], _HouseLevel] = {}
        self._parsed: dict[tuple[object, object, object], _BookLevel] = {}
        self._volume_seen: Decimal | None = None
        self._start_px = start_px
        self._oracle: Decimal | None = None
        self._mark: Decimal | None = None
        self._ctx: dict[str, Any] | None = None
        self._t0_ns: int | None = None
        self._last_due = self._start_ms
        self._source = _open_source(path)
        self._next: tuple[int, object] | None = None  # (due ms, frame)
        self._finished = False
        self._carry = _Out()
        self._fetch()
        self._apply_due(self._start_ms, self._carry)  # the first frame is due at the start

    # --- what the server streams -------------------------------------------------------------

    @property
    def spec(self) -> MarketSpec:
        """The market driven."""
        return self._spec

    @property
    def oracle_px(self) -> Decimal:
        """The last recorded oracle price (before one: the book's mid, `start_px` or 0)."""
        return self._oracle if self._oracle is not None else self._fallback_px()

    @property
    def mark_px(self) -> Decimal:
        """The last recorded mark price (before one: the book's mid, `start_px` or 0)."""
        return self._mark if self._mark is not None else self._fallback_px()

    @property
    def mid(self) -> Decimal | None:
        """Book mid price in the engine, or None when a side is empty."""
        return self._engine.mid(self._spec.asset)

    @property
    def finished(self) -> bool:
        """True once every recorded frame has been applied (the input is exhausted)."""
        return self._finished

    @property
    def counters(self) -> Mapping[str, int]:
        """Live, read-only counts keyed by `COUNTER_NAMES` (``trades`` counts trades)."""
        return self._counters_view

    def asset_ctx(self) -> dict[str, Any]:
        """The last recorded perp ``ctx`` (a copy), or a minimal one before any."""
        if self._ctx is not None:
            return dict(self._ctx)
        mid = self.mid
        return {
            "funding": "0",
            "openInterest": "0",
            "prevDayPx": to_wire(self.mark_px),
            "dayNtlVlm": "0",
            "premium": None,
            "oraclePx": to_wire(self.oracle_px),
            "markPx": to_wire(self.mark_px),
            "midPx": to_wire(mid) if mid is not None else None,
            "impactPxs": None,
            "dayBaseVlm": "0",
        }

    def close(self) -> None:
        """Stop reading (closes the file); the market keeps its current state."""
        close = getattr(self._source, "close", None)
        if callable(close):
            close()
        self._next, self._finished = None, True

    # --- stepping --------------------------------------------------------------------------------

    def step(self, now_ms: int | None = None) -> StepResult:
        """Apply every recorded frame due by `now_ms` (default: the clock's time).

        Returns:
            The recorded trades of this coin, the user fills and order events caused by
            recorded levels crossing user orders, and the oracle/mark changes.

        Raises:
            ValueError: `now_ms` is earlier than the previous step.
        """
        now = self._clock.now_ms() if now_ms is None else now_ms
        if now < self._t:
            raise ValueError(f"step({now}) is before the previous step ({self._t})")
        self._t = now
        out, self._carry = self._carry, _Out()
        self._apply_due(now, out)
        return out.result()

    def _apply_due(self, now: int, out: _Out) -> None:
        while self._next is not None and self._next[0] <= now:
            due, frame = self._next
            self._next = None
            self._apply(frame, due, out)
            self._fetch()

    def _due_ms(self, ts_ns: int) -> int:
        if self._t0_ns is None:
            self._t0_ns = ts_ns
        due = self._start_ms + math.floor((ts_ns - self._t0_ns) * self._ms_per_ns)
        if due < self._last_due:
            self._counts["out_of_order"] += 1
            due = self._last_due
        self._last_due = due
        return due

    def _fetch(self) -> None:
        for item in self._source:
            self._counts["frames"] += 1
            if isinstance(item, _MalformedError):
                self._malformed(str(item))
                continue
            ts_ns, frame = item
            self._next = (self._due_ms(ts_ns), frame)
            return
        self._finished = True

    def _malformed(self, why: str) -> None:
        self._counts["malformed"] += 1
        level = logging.WARNING if self._counts["malformed"] == 1 else logging.DEBUG
        logger.log(level, "replay of %s: skipped a malformed record: %s", self._spec.name, why)

    # --- frames ---------------------------------------------------------------------------------

    def _apply(self, raw: object, due: int, out: _Out) -> None:
        frame = _as_object(raw)
        if not isinstance(frame, Mapping):
            self._counts["skipped"] += 1  # the greeting and other plain text
            return
        channel, data = frame.get("channel"), frame.get("data")
        mine = data if isinstance(data, Mapping) and data.get("coin") == self._spec.name else None
        try:
            if channel == "l2Book" and mine is not None:
                self._apply_book(mine, out)
            elif channel == "activeAssetCtx" and mine is not None:
                self._apply_ctx(mine, due, out)
            elif channel == "trades" and isinstance(data, list):
                self._apply_trades(data, due, out)
            else:
                self._counts["skipped"] += 1
        except _MalformedError as exc:
            self._malformed(f"{channel} frame: {exc}")

    def _apply_ctx(self, data: Mapping[str, Any], due: int, out: _Out) -> None:
        ctx = data.get("ctx")
        if not isinstance(ctx, Mapping):
            raise _MalformedError("no ctx object")
        oracle, mark = _decimal(ctx.get("oraclePx")), _decimal(ctx.get("markPx"))
        self._counts["ctxs"] += 1
        self._ctx = dict(ctx)
        if (oracle, mark) != (self._oracle, self._mark):
            self._oracle, self._mark = oracle, mark
            out.pushes.append(OraclePush(due, oracle, mark))

    def _apply_trades(self, data: list[Any], due: int, out: _Out) -> None:
        mine = [t for t in data if isinstance(t, Mapping) and t.get("coin") == self._spec.name]
        if not mine:
            self._counts["skipped"] += 1
            return
        trades = [self._trade(t, due) for t in mine]  # all or nothing: one bad trade spoils it
        self._counts["trades"] += len(trades)
        out.trades.extend(trades)

    def _trade(self, wire: Mapping[str, Any], due: int) -> Trade:
        side, tid, users = wire.get("side"), wire.get("tid"), wire.get("users")
        if side not in ("B", "A"):
            raise _MalformedError(f"trade side {side!r}")
        if isinstance(tid, bool) or not isinstance(tid, int):
            raise _MalformedError(f"trade tid {tid!r}")
        buyer, seller = _ZERO_ADDRESS, _ZERO_ADDRESS
        if isinstance(users, list) and len(users) == 2 and all(isinstance(u, str) for u in users):
            buyer, seller = users
        trade_hash = wire.get("hash")
        return Trade(
            coin=self._spec.name,
            asset=self._spec.asset,
            is_buy=side == "B",
            px=_decimal(wire.get("px")),
            sz=_decimal(wire.get("sz")),
            time=due,
            hash=trade_hash if isinstance(trade_hash, str) else _ZERO_HASH,
            tid=tid,
            buyer=buyer,
            seller=seller,
        )

    # --- the house book --------------------------------------------------------------------------

    def _apply_book(self, data: Mapping[str, Any], out: _Out) -> None:
        bids, asks, self._parsed = _parse_levels(data.get("levels"), self._parsed)
        self._counts["books"] += 1
        wanted = {(True, lv.px): (lv.sz, lv.n) for lv in bids}
        wanted.update({(False, lv.px): (lv.sz, lv.n) for lv in asks})
        remaining = self._house_remaining()
        for key, level in list(self._house.items()):
            if wanted.get(key) == level.recorded and (
                remaining is None or _intact(level, remaining)
            ):
                continue
            for oid in level.oids:
                if remaining is None or oid in remaining:
                    self._engine.cancel(self._maker, self._spec.asset, oid)
            del self._house[key]
        for is_buy, levels in ((True, bids), (False, asks)):
            for lv in levels:
                if (is_buy, lv.px) not in self._house:
                    self._place_level(is_buy, lv, out)
        self._volume_seen = self._engine.trade_totals(self._spec.asset)[2]

    def _house_remaining(self) -> dict[int, Decimal] | None:
        # What is left of each house order, or None when nothing traded on this market
        # since the last snapshot (then every house order is as it was placed).
        if self._engine.trade_totals(self._spec.asset)[2] == self._volume_seen:
            return None
        return {
            view.oid: view.sz
            for view in self._engine.open_orders(self._maker)
            if view.asset == self._spec.asset
        }

    def _place_level(self, is_buy: bool, lv: _BookLevel, out: _Out) -> None:
        parts = _split(lv, size_step(self._spec.sz_decimals), self._spec.min_notional)
        if not parts:
            self._counts["levels_dropped"] += 1
            return
        oids: list[int] = []
        placed = Decimal(0)
        for part in parts:
            result = self._engine.place(self._maker, self._spec.asset, is_buy, lv.px, part, "Gtc")
            self._collect(result, out)
            if isinstance(result.status, Resting):
                oid = result.status.oid
                oids.append(oid)
                placed += part - sum((f.sz for f in result.fills if f.oid == oid), Decimal(0))
            elif not result.fills:  # refused (off the tick of `spec`): so would the rest be
                self._counts["levels_dropped"] += 1
                break
        if oids:
            self._house[(is_buy, lv.px)] = _HouseLevel((lv.sz, lv.n), tuple(oids), placed)

    def _collect(self, result: PlaceResult, out: _Out) -> None:
        is_house = self._engine.ledger.is_house
        out.trades.extend(result.trades)
        out.fills.extend(f for f in result.fills if not is_house(f.owner))
        out.events.extend(e for e in result.events if not is_house(e.owner))

    def _fallback_px(self) -> Decimal:
        mid = self.mid
        if mid is not None:
            return mid
        return self._start_px if self._start_px is not None else Decimal(0)


# --- input ------------------------------------------------------------------------------------


def _ms_per_ns(speed: float) -> Fraction:
    if isinstance(speed, bool) or not isinstance(speed, int | float | Decimal | Fraction):
        raise ConfigError(f"the replay speed must be a number, got {speed!r}")
    if not math.isfinite(speed) or speed <= 0:
        raise ConfigError(f"the replay speed must be a finite number above 0, got {speed}")
    return 1 / (Fraction(speed) * _NS_PER_MS)


def _open_source(path: str | os.PathLike[str] | FrameSource) -> Iterator[Any]:
    if isinstance(path, str | os.PathLike):
        file = Path(path)
        try:
            with file.open("rb") as handle:
                head = handle.read(len(_H3REC_MAGIC))
        except FileNotFoundError:
            raise RecordingError(f"recording {file} does not exist") from None
        except OSError as exc:
            raise RecordingError(f"cannot read recording {file}: {exc.strerror or exc}") from None
        if head == _H3REC_MAGIC:
            raise RecordingError(
                f"{file} is an .h3rec recording; pass its frames as (wall_ns, raw) pairs "
                "instead of the path (see hip3term.venue.sim.replay_market)"
            )
        return _jsonl_records(file)
    return _pairs(path)


def _jsonl_records(file: Path) -> Iterator[Any]:
    try:
        with file.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield _jsonl_record(line, f"{file.name} line {number}")
    except OSError as exc:
        raise RecordingError(f"cannot read recording {file}: {exc.strerror or exc}") from None


def _jsonl_record(line: bytes, where: str) -> Any:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return _MalformedError(f"{where}: not JSON")
    ts = record.get("ts_ns") if isinstance(record, dict) else None
    if type(ts) is not int or "frame" not in record:
        return _MalformedError(f'{where}: not {{"ts_ns": int, "frame"}}')
    return ts, record["frame"]


def _pairs(source: FrameSource) -> Iterator[Any]:
    for number, item in enumerate(source, start=1):
        if isinstance(item, tuple) and len(item) == 2 and type(item[0]) is int:
            yield item
        else:
            yield _MalformedError(f"item {number}: not a (ts_ns, frame) pair")


def _as_object(raw: object) -> object:
    if isinstance(raw, str | bytes | bytearray | memoryview):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
    return raw


def _decimal(value: object) -> Decimal:
    if not isinstance(value, str):
        raise _MalformedError(f"{value!r} is not a decimal string")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _MalformedError(f"{value!r} is not a decimal string") from None
    if not number.is_finite() or number <= 0:
        raise _MalformedError(f"{value!r} is not a positive number")
    return number


def _parse_levels(
    levels: object, known: Mapping[tuple[object, object, object], _BookLevel]
) -> tuple[list[_BookLevel], list[_BookLevel], dict[tuple[object, object, object], _BookLevel]]:
    # `known` holds the previous snapshot's parsed levels: unchanged ones are reused.
    if not isinstance(levels, list) or len(levels) != 2:
        raise _MalformedError("levels is not [bids, asks]")
    seen: dict[tuple[object, object, object], _BookLevel] = {}
    sides: list[list[_BookLevel]] = []
    for side in levels:
        if not isinstance(side, list):
            raise _MalformedError("a side of levels is not a list")
        parsed = []
        for level in side:
            if not isinstance(level, Mapping):
                raise _MalformedError(f"level {level!r} is not an object")
            key = (level.get("px"), level.get("sz"), level.get("n"))
            book_level = known.get(key) if type(key[2]) is int else None
            if book_level is None:
                book_level = _parse_level(level)
            seen[key] = book_level
            parsed.append(book_level)
        sides.append(parsed)
    bids, asks = sides
    ordered = all(a.px > b.px for a, b in itertools.pairwise(bids)) and all(
        a.px < b.px for a, b in itertools.pairwise(asks)
    )
    if not ordered:
        raise _MalformedError("levels are not sorted best first")
    if bids and asks and bids[0].px >= asks[0].px:
        raise _MalformedError(f"crossed book: bid {bids[0].px} >= ask {asks[0].px}")
    return bids, asks, seen


def _parse_level(level: Mapping[str, Any]) -> _BookLevel:
    n = level.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise _MalformedError(f"level order count {n!r}")
    return _BookLevel(_decimal(level.get("px")), _decimal(level.get("sz")), n)


def _intact(level: _HouseLevel, remaining: Mapping[int, Decimal]) -> bool:
    if not all(oid in remaining for oid in level.oids):
        return False
    return sum((remaining[oid] for oid in level.oids), Decimal(0)) == level.placed


def _split(level: _BookLevel, lot: Decimal, min_notional: Decimal) -> list[Decimal]:
    # Up to `n` orders of whole lots, each worth at least the minimum order value.
    lots, rest = divmod(level.sz, lot)
    if rest or level.sz * level.px < min_notional:
        return []
    count = int(lots)
    parts = min(level.n, count)
    while parts > 1 and (count // parts) * lot * level.px < min_notional:
        parts -= 1
    base, extra = divmod(count, parts)
    return [(base + (1 if i < extra else 0)) * lot for i in range(parts)]

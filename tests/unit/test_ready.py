"""TradingReadyChecker: READY-TRADING needs all four flags, is lost on disconnect and
regained only when all four are earned again on the new connection."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hip3term.core.events import TradingReadyChanged
from hip3term.risk.ready import ReadyFlags, TradingReadyChecker

T0 = 1_700_000_000_000


def ready(checker: TradingReadyChecker) -> bool:
    return checker.ready  # a call: mypy keeps no narrowed value across steps


def all_four(checker: TradingReadyChecker, now: int, session: int | None = None
             ) -> list[TradingReadyChanged]:  # fmt: skip
    return [
        *checker.set_market_data(True, now, session),
        *checker.on_order_updates_ack(now, session),
        *checker.on_fills_snapshot(now, session),
        *checker.on_positions_synced(now, session),
    ]


def test_ready_needs_all_four_flags_in_any_order() -> None:
    checker = TradingReadyChecker()
    session, events = checker.on_connected(T0)
    assert session == 1 and events == []
    assert checker.on_positions_synced(T0) == []
    assert checker.on_fills_snapshot(T0) == []
    assert checker.set_market_data(True, T0) == []
    assert not ready(checker)
    assert checker.flags.missing == ("order_updates",)
    (event,) = checker.on_order_updates_ack(T0 + 5)
    assert event == TradingReadyChanged(T0 + 5, True, True, True, True, True,
                                        "orderUpdates acknowledged")  # fmt: skip
    assert ready(checker)


@pytest.mark.parametrize("missing", ["market_data", "order_updates", "fills_snapshot",
                                     "positions_synced"])  # fmt: skip
def test_ready_each_flag_is_required(missing: str) -> None:
    checker = TradingReadyChecker()
    checker.on_connected(T0)
    setters: dict[str, Callable[[], list[TradingReadyChanged]]] = {
        "market_data": lambda: checker.set_market_data(True, T0),
        "order_updates": lambda: checker.on_order_updates_ack(T0),
        "fills_snapshot": lambda: checker.on_fills_snapshot(T0),
        "positions_synced": lambda: checker.on_positions_synced(T0),
    }
    for name, setter in setters.items():
        if name != missing:
            assert setter() == []
    assert not ready(checker) and checker.flags.missing == (missing,)


def test_ready_lost_on_disconnect_and_regained_only_after_full_resync() -> None:
    checker = TradingReadyChecker()
    checker.on_connected(T0)
    all_four(checker, T0)
    assert ready(checker)
    (lost,) = checker.on_disconnect(T0 + 100)
    assert not lost.ready and lost.reason.startswith("disconnected")
    assert checker.flags == ReadyFlags() and not checker.connected
    # Nothing counts while disconnected.
    assert all_four(checker, T0 + 200) == [] and not ready(checker)
    session, _ = checker.on_connected(T0 + 300)
    assert session == 2
    checker.set_market_data(True, T0 + 300)
    checker.on_order_updates_ack(T0 + 300)
    checker.on_fills_snapshot(T0 + 300)
    assert not ready(checker)  # the reconcile is still missing
    (regained,) = checker.on_positions_synced(T0 + 400)
    assert regained.ready


def test_ready_ignores_answers_from_an_old_connection() -> None:
    checker = TradingReadyChecker()
    old, _ = checker.on_connected(T0)
    checker.on_disconnect(T0 + 1)
    new, _ = checker.on_connected(T0 + 2)
    assert all_four(checker, T0 + 3, session=old) == []
    assert checker.flags == ReadyFlags()
    assert len(all_four(checker, T0 + 4, session=new)) == 1 and ready(checker)


def test_ready_follows_market_data_staleness() -> None:
    checker = TradingReadyChecker()
    checker.on_connected(T0)
    all_four(checker, T0)
    (stale,) = checker.set_market_data(False, T0 + 20_000, reason="l2Book stale")
    assert not stale.ready and "missing: market_data" in stale.reason
    assert checker.flags.order_updates and checker.flags.positions_synced
    (fresh,) = checker.set_market_data(True, T0 + 21_000)
    assert fresh.ready

"""The runtime state saved to the journal and restored at the next start.

Saved (as the `strategy_state` row of the strategy's name, every 2 s when it changed and
at exit): the latch (state, trigger, detail), the time of the last fill journaled, the
last nonce, the strategy's `status()` and its metrics. At start the newest row is read
back: a latch the previous session left held stays held (a restart is not a resume; the
operator must resume explicitly), fills of the exchange's start-up snapshot newer than the
saved last fill are journaled (a crashed session may have missed them), and a strategy
that defines `restore_state(mapping)` gets its saved status back. Positions and open
orders are never restored from the journal: they come from the exchange.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from hip3term.runtime.engine import Engine

__all__ = ["STATE_VERSION", "SavedState", "restore_state", "runtime_state"]

STATE_VERSION = 1
_log = logging.getLogger("hip3term.node")


class SavedState(Protocol):
    """A journal `strategy_state` row (`persistence.models.StrategyState`)."""

    @property
    def session_id(self) -> str: ...
    @property
    def time_ms(self) -> int: ...
    @property
    def state(self) -> dict[str, Any]: ...


def _plain(value: object) -> str | float | int | None:
    return value if isinstance(value, str | float | int) or value is None else str(value)


def runtime_state(engine: Engine, session_id: str, nonce_last: int | None) -> dict[str, Any]:
    """What is saved now (JSON-friendly)."""
    latch = engine.latch
    try:
        status = {str(k): _plain(v) for k, v in engine.strategy.status().items()}
    except Exception as exc:  # a strategy bug must not stop the saving
        status = {"status_error": str(exc)}
    return {
        "version": STATE_VERSION,
        "session_id": session_id,
        "latch": {"state": str(latch.state), "trigger": None if latch.trip_trigger is None
                  else str(latch.trip_trigger), "detail": latch.trip_detail},
        "last_fill_ms": engine.log.last_fill_ms,
        "nonce_last": nonce_last,
        "realized_pnl": str(engine.tracker.realized_pnl),
        "strategy": status,
        "metrics": engine.host.metrics.snapshot().as_dict(),
    }


def restore_state(engine: Engine, row: SavedState | None) -> None:
    """Adopt what an earlier session saved (module docstring); attach nothing if None."""
    if engine.journal is None:
        raise RuntimeError("attach the journal to the engine before restoring")
    state: Mapping[str, Any] = row.state if row is not None and isinstance(row.state,
                                                                           dict) else {}
    if row is None or state.get("version") != STATE_VERSION:
        return
    last_fill = state.get("last_fill_ms")
    engine.attach_journal(engine.journal,
                          reflected_after_ms=last_fill if isinstance(last_fill, int)
                          else row.time_ms)  # fmt: skip
    latch = state.get("latch")
    if isinstance(latch, dict) and latch.get("state") not in (None, "active"):
        engine.restore_latch(str(latch.get("state")), latch.get("trigger"),
                             str(latch.get("detail", "")))
    restore = getattr(engine.strategy, "restore_state", None)
    if callable(restore) and isinstance(state.get("strategy"), dict):
        try:
            restore(state["strategy"])
        except Exception:  # a strategy bug must not stop the start
            _log.exception("strategy %s: restore_state failed", engine.strategy.name)
    held = latch.get("state", "?") if isinstance(latch, dict) else "?"
    engine.log.risk(engine.clock.now_ms(), "state_restored",
                    f"state of {engine.strategy.name} saved by session {row.session_id} at "
                    f"{row.time_ms}: latch {held}, last fill {last_fill}",
                    detail={"session_id": row.session_id, "saved_ms": row.time_ms})

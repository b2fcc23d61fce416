"""The SQLite journal: every table round trip, batching, versions, WAL, overflow, close."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from hip3term.core.clock import SimClock
from hip3term.persistence.db import Journal, JournalError, open_journal
from hip3term.persistence.models import SCHEMA_VERSION
from hip3term.persistence.writer import UNWRITTEN_ROWS, JournalWriter

SESSION = "20260515-000112-xyz_COIN-sim"
T0 = 1_778_803_272_000


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    j = await open_journal(tmp_path / "state" / "journal.sqlite", clock=SimClock(T0))
    await j.start_session(
        SESSION, mode="sim", venue="sim", market="xyz:COIN", config_hash="c0ffee",
        hip3term_version="0.1.0", started_ms=T0, recording="recordings/x.h3rec",
    )  # fmt: skip
    yield j
    await j.aclose()


def count_rows(path: Path, table: str) -> int:
    # Read with the standard library, independently of SQLAlchemy.
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    # Waits on behaviour, never asserts on timing; the limit only stops a hang.
    for _ in range(4000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"gave up waiting for {what}")


def row_dict(obj: Any, skip: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns if c.key not in skip}


# ------------------------------------------------------------------ round trip


async def test_every_table_reads_back_what_was_journaled(journal: Journal) -> None:
    clock = SimClock(T0)
    writer = JournalWriter(journal, SESSION, clock=clock)
    task = asyncio.create_task(writer.run(), name="journal-writer")
    base = {"session_id": SESSION}
    order: dict[str, Any] = {
        "market": "xyz:COIN", "side": "B", "price": Decimal("190.25"),
        "size": Decimal("0.263"), "tif": "Ioc", "reduce_only": False,
        "cloid": "0x" + "ab" * 16, "oid": None, "strategy": "oracle_dislocation",
        "reason": "ask 31 bps under oracle",
    }  # fmt: skip
    writer.record_order(**order)
    clock.advance(5)
    events: list[dict[str, Any]] = [
        {"event": "sent", "cloid": order["cloid"], "oid": None, "status": None, "detail": None},
        {"event": "filled", "cloid": order["cloid"], "oid": 77_738_308, "status": "filled",
         "detail": '{"totalSz":"0.263","avgPx":"190.25"}'},
    ]  # fmt: skip
    for ev in events:
        writer.record_order_event(**ev)
    fill: dict[str, Any] = {
        "market": "xyz:COIN", "side": "B", "price": Decimal("190.25"),
        "size": Decimal("0.263"), "fee": Decimal("0.0125082"), "tid": 960_840_405_993_232,
        "oid": 77_738_308, "time_ms": 1_790_119_188_493, "cloid": order["cloid"],
        "fee_token": "USDC", "closed_pnl": Decimal("-0.0"), "crossed": True,
    }  # fmt: skip
    writer.record_fill(**fill)
    position: dict[str, Any] = {
        "market": "xyz:COIN", "size": Decimal("-0.263"), "entry_px": Decimal("190.25"),
        "unrealized_pnl": Decimal("0.0132"), "realized_pnl": None,
    }  # fmt: skip
    writer.record_position(**position)
    features = {"mid": "190.3", "oracle_age_ms": 812, "dislocation_bps": -31.5, "valid": True}
    signal: dict[str, Any] = {
        "strategy": "oracle_dislocation", "market": "xyz:COIN", "kind": "dislocation",
        "decision": "taken", "side": "B", "expected_edge_bps": Decimal("21.5"),
        "price": Decimal("190.25"), "size": Decimal("0.263"), "reason": None,
        "features": features,
    }  # fmt: skip
    writer.record_signal(**signal)
    risk: dict[str, Any] = {
        "kind": "latch_tripped", "reason": "cumulative loss over $20", "severity": "critical",
        "detail": {"loss": "20.13"},
    }  # fmt: skip
    writer.record_risk_event(**risk)
    action: dict[str, Any] = {
        "who": "operator@tty1", "action": "halt", "reason": "news in 2 minutes",
        "detail": {"key": "h"},
    }  # fmt: skip
    writer.record_operator_action(**action)
    writer.save_strategy_state(strategy="oracle_dislocation", state={"trades": 3, "pnl": "1.5"})
    for bid in ("190.24", "190.26"):
        writer.upsert_latest_top(market="xyz:COIN", bid_px=Decimal(bid), bid_sz=Decimal("3"),
                                 ask_px=Decimal("190.27"), ask_sz=None, time_ms=T0)  # fmt: skip
    writer.upsert_latest_top(market="xyz:TSLA", bid_px=None, bid_sz=None, ask_px=None,
                             ask_sz=None, time_ms=T0 + 1)  # fmt: skip
    await wait_until(lambda: writer.health().written == 12, "the writer task")
    await writer.aclose()  # the run task ends with it (or at its cancel, if still inside)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.done()

    (session,) = await journal.sessions()
    assert (session.session_id, session.mode, session.market) == (SESSION, "sim", "xyz:COIN")
    assert session.recording == "recordings/x.h3rec" and session.ended_ms is None
    (got_order,) = await journal.orders(SESSION)
    assert row_dict(got_order) == base | order | {"time_ms": T0}
    assert [row_dict(e) for e in await journal.order_events(SESSION)] == [
        base | ev | {"time_ms": T0 + 5} for ev in events
    ]
    (got_fill,) = await journal.fills(SESSION)
    assert row_dict(got_fill) == base | fill
    (got_position,) = await journal.position_snapshots(SESSION)
    assert row_dict(got_position) == base | position | {"time_ms": T0 + 5}
    (got_signal,) = await journal.signals(SESSION)
    assert row_dict(got_signal) == base | signal | {"time_ms": T0 + 5}
    (got_risk,) = await journal.risk_events(SESSION)
    assert row_dict(got_risk) == base | risk | {"time_ms": T0 + 5}
    (got_action,) = await journal.operator_actions(SESSION)
    assert row_dict(got_action) == base | action | {"time_ms": T0 + 5}
    state = await journal.latest_strategy_state("oracle_dislocation")
    assert state is not None and state.state == {"trades": 3, "pnl": "1.5"}
    top = await journal.latest_top("xyz:COIN")
    assert top is not None and (top.bid_px, top.ask_px, top.ask_sz) == (
        Decimal("190.26"), Decimal("190.27"), None,
    )  # fmt: skip
    assert count_rows(journal.path, "latest_top") == 2
    await journal.end_session(SESSION, T0 + 60_000)
    assert (await journal.sessions())[0].ended_ms == T0 + 60_000


async def test_amounts_are_exact_decimal_text_on_disk(journal: Journal) -> None:
    writer = JournalWriter(journal, SESSION)
    for price in ("190.25", "0.000012345678901234567890123", "1E+3", "100.10"):
        writer.record_fill(market="xyz:COIN", side="A", price=Decimal(price), size=Decimal(1),
                           fee=Decimal("-0.001"), tid=1, oid=2, time_ms=T0)  # fmt: skip
    await writer.aclose()
    with contextlib.closing(sqlite3.connect(journal.path)) as db:
        rows = db.execute("SELECT price, typeof(price), fee FROM fills ORDER BY id").fetchall()
    assert rows == [
        ("190.25", "text", "-0.001"),
        ("0.000012345678901234567890123", "text", "-0.001"),
        ("1000", "text", "-0.001"),
        ("100.10", "text", "-0.001"),
    ]


async def test_strategy_state_restores_the_newest_over_sessions(journal: Journal) -> None:
    first = JournalWriter(journal, "session-a")
    first.save_strategy_state(strategy="mm", state={"mode": "NORMAL"}, time_ms=T0)
    first.save_strategy_state(strategy="other", state={"x": 1}, time_ms=T0)
    await first.aclose()
    second = JournalWriter(journal, "session-b")
    state = {"mode": "DEFENSIVE", "inventory": ["0.5"]}
    second.save_strategy_state(strategy="mm", state=state, time_ms=T0 + 1)
    state["mode"] = "PAUSE"  # mutated after saving: the journal keeps what was saved
    await second.aclose()
    latest = await journal.latest_strategy_state("mm")
    assert latest is not None
    assert (latest.session_id, latest.state) == (
        "session-b", {"mode": "DEFENSIVE", "inventory": ["0.5"]},
    )  # fmt: skip
    assert await journal.latest_strategy_state("never-saved") is None


# ------------------------------------------------------------------ batching and close


async def test_rows_are_written_in_batches_one_transaction_each(
        journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    commits: list[int] = []
    commit = aiosqlite.Connection.commit  # the writer commits on its aiosqlite connection

    async def counted(self: aiosqlite.Connection) -> None:
        commits.append(1)
        await commit(self)

    monkeypatch.setattr(aiosqlite.Connection, "commit", counted)
    writer = JournalWriter(journal, SESSION, batch_size=100)
    for i in range(1000):
        writer.record_signal(strategy="s", market="xyz:COIN", kind="k", decision="observed",
                             time_ms=T0 + i)  # fmt: skip
        if i % 3 == 0:
            writer.record_order_event(event="sent", oid=i, time_ms=T0 + i)
    before = len(commits)
    await writer.flush()
    rows = 1000 + 334
    assert len(commits) - before == -(-rows // 100) == 14
    health = writer.health()
    assert (health.written, health.batches, health.queued) == (rows, 14, 0)
    assert count_rows(journal.path, "signals") == 1000
    assert count_rows(journal.path, "order_events") == 334
    times = [s.time_ms for s in await journal.signals(SESSION)]
    assert times == [T0 + i for i in range(1000)]  # order kept across batches
    await writer.aclose()


async def test_aclose_writes_every_queued_row(journal: Journal) -> None:
    writer = JournalWriter(journal, SESSION, batch_size=1000, capacity=10_000)
    for i in range(2500):  # no run() task: everything waits in the queue
        writer.record_position(market="xyz:COIN", size=Decimal(i), time_ms=T0)
    assert writer.health().queued == 2500
    await writer.aclose()
    assert count_rows(journal.path, "position_snapshots") == 2500
    assert writer.health().closed and writer.health().queued == 0


async def test_aclose_survives_the_caller_being_cancelled(journal: Journal) -> None:
    writer = JournalWriter(journal, SESSION, batch_size=10)
    for i in range(500):
        writer.record_order_event(event="sent", oid=i)
    closing = asyncio.create_task(writer.aclose())
    await asyncio.sleep(0)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    await wait_until(lambda: writer.health().written == 500, "the shielded final flush")
    assert count_rows(journal.path, "order_events") == 500


async def test_the_run_task_writes_on_its_own_and_can_be_cancelled(journal: Journal) -> None:
    writer = JournalWriter(journal, SESSION, interval_s=0.01)
    task = asyncio.create_task(writer.run())
    writer.record_risk_event(kind="feed_stale", reason="l2Book silent for 20 s")
    await wait_until(lambda: writer.health().written == 1, "a periodic write")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    writer.record_risk_event(kind="feed_ok", reason="l2Book back")
    await writer.aclose()
    assert [e.kind for e in await journal.risk_events(SESSION)] == ["feed_stale", "feed_ok"]


# ------------------------------------------------------------------ overflow and failures


async def test_overflow_never_blocks_counts_exactly_warns_and_journals_the_count(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    writer = JournalWriter(journal, SESSION, capacity=5)  # and no run(): a stalled writer
    with caplog.at_level(logging.WARNING, logger="hip3term.persistence.writer"):
        one = Decimal(1)
        accepted = [
            writer.record_fill(
                market="xyz:COIN", side="B", price=one, size=one, fee=one, tid=i, oid=i, time_ms=T0
            )
            for i in range(9)
        ]
        accepted += [writer.record_operator_action(who="op", action="halt", reason="test")]
        accepted += [writer.record_signal(strategy="s", market="m", kind="k", decision="d")]
    assert accepted == [True] * 5 + [False] * 6
    health = writer.health()
    assert (health.dropped, health.unreported, health.lagging) == (6, 6, True)
    warnings = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    await writer.flush()
    assert count_rows(journal.path, "fills") == 5
    (report,) = await journal.risk_events(SESSION)
    assert report.kind == UNWRITTEN_ROWS and report.severity == "warning"
    assert report.detail == {
        "rows": 6,
        "by_table": {"fills": 4, "operator_actions": 1, "signals": 1},
        "by_cause": {"queue_full": 6},
    }
    assert "6 journal rows were not written" in report.reason
    health = writer.health()
    assert (health.dropped, health.unreported, health.lagging) == (6, 0, False)
    await writer.aclose()


async def test_a_row_the_database_refuses_is_counted_and_the_rest_written(
    journal: Journal,
) -> None:
    writer = JournalWriter(journal, SESSION)
    for i in range(10):
        price: Any = 190.25 if i == 4 else Decimal("190.25")  # a float must never be stored
        writer.record_fill(market="xyz:COIN", side="B", price=price, size=Decimal(1),
                           fee=Decimal(0), tid=i, oid=i, time_ms=T0)  # fmt: skip
    writer.record_signal(strategy="s", market="m", kind="k", decision="d")
    await writer.aclose()
    assert [f.tid for f in await journal.fills(SESSION)] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert count_rows(journal.path, "signals") == 1
    (report,) = await journal.risk_events(SESSION)
    assert report.detail == {"rows": 1, "by_table": {"fills": 1}, "by_cause": {"write_failed": 1}}
    health = writer.health()
    assert health.errors >= 1 and "190.25" in (health.last_error or "")


async def test_rows_for_unknown_tables_or_missing_fields_are_counted_not_raised(
    journal: Journal,
) -> None:
    writer = JournalWriter(journal, SESSION)
    assert writer.put("no_such_table", {"x": 1})
    assert writer.put("risk_events", {"session_id": SESSION, "kind": "k"})  # no time, reason
    writer.record_risk_event(kind="ok", reason="complete row", time_ms=T0)
    await writer.aclose()
    events = await journal.risk_events(SESSION)
    assert [e.kind for e in events] == ["ok", UNWRITTEN_ROWS]
    assert events[1].detail == {
        "rows": 2,
        "by_table": {"no_such_table": 1, "risk_events": 1},
        "by_cause": {"write_failed": 2},
    }


# ------------------------------------------------------------------ the file


async def test_journal_is_in_wal_mode(journal: Journal) -> None:
    assert await journal.pragma("journal_mode") == "wal"
    assert await journal.pragma("synchronous") == 1  # NORMAL
    with contextlib.closing(sqlite3.connect(journal.path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # stored in the file


async def test_reopening_a_journal_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    first = await open_journal(path)
    writer = JournalWriter(first, "s")
    writer.record_operator_action(who="op", action="resume", reason="checked")
    await writer.aclose()
    await first.aclose()
    again = await open_journal(path)
    assert [a.action for a in await again.operator_actions("s")] == ["resume"]
    await again.aclose()


async def test_another_schema_version_is_refused_naming_both_and_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    await (await open_journal(path)).aclose()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(JournalError) as caught:
        await open_journal(path)
    message = caught.value.message
    assert str(path) in message and "version 99" in message
    assert f"version {SCHEMA_VERSION}" in message
    assert caught.value.exit_code == 2


def foreign_sqlite(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE trades (x)")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("not sqlite at all, just text" * 10), "cannot be opened"),
        (foreign_sqlite, "not a hip3term journal"),
    ],
    ids=["text-file", "foreign-sqlite"],
)
async def test_files_that_are_not_journals_are_refused(
    tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / "other.sqlite"
    make(path)
    with pytest.raises(JournalError, match=message):
        await open_journal(path)

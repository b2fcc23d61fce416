"""The journal's single writer: a bounded in-memory queue drained in batched transactions.

The hot path (executor, position tracker, risk, strategy host, TUI actions) calls the
`record_*` helpers, `save_strategy_state` or `upsert_latest_top` (`rows.RowSink`'s, which
this writer is). They never await and
never raise: each builds one row dict and appends it to the queue (about a microsecond).
`run()`, one task in the node's TaskGroup, drains the queue every `interval_s` (50 ms),
or as soon as `batch_size` rows wait, and inserts each batch in one transaction: per
table, the SQLAlchemy Core insert (compiled once, with the models' own type conversions)
executed as one DBAPI executemany.

Nothing is lost silently. When the queue is full a row is dropped and counted per table;
the first drop of an episode logs a warning and sets `health().lagging`. Rows a batch
fails to insert (a bad value, a full disk) are retried table by table, then row by row,
and the ones that still fail are counted the same way. As soon as it can, the writer
journals a risk event of kind `unwritten_rows` whose detail gives the count per table
and per cause, and logs it.

`aclose()` writes everything still queued; it is shielded, so cancelling the caller does
not cut the final flush short.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Dialect, Insert, Table, insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from hip3term.core.clock import Clock
from hip3term.persistence.db import Journal
from hip3term.persistence.models import Base
from hip3term.persistence.rows import JournalHealth, Row, RowSink

__all__ = ["UNWRITTEN_ROWS", "JournalHealth", "JournalWriter"]

_log = logging.getLogger(__name__)

UNWRITTEN_ROWS: Final = "unwritten_rows"
"""`risk_events.kind` of the event that counts rows the journal could not write."""

_TABLES: Final[Mapping[str, Table]] = Base.metadata.tables


@dataclass(frozen=True, slots=True)
class _Insert:
    # A table's Core insert compiled for the engine's dialect on the table's first write
    # (a writer pays only for the tables it writes: the replay's, none), with the column
    # order of its positional parameters and the columns' own bind conversions.
    sql: str
    values: Callable[[Row], tuple[Any, ...]]


def _compile(table: Table, dialect: Dialect) -> _Insert:
    keys = [c.name for c in table.columns if c is not table.autoincrement_column]
    if table.name == "latest_top":  # one row per market: an upsert
        upsert = sqlite_insert(table)
        changes = {key: upsert.excluded[key] for key in keys if key != "market"}
        statement: Insert = upsert.on_conflict_do_update(index_elements=["market"], set_=changes)
    else:
        statement = insert(table)
    compiled = statement.compile(dialect=dialect, column_keys=keys)
    order = list(compiled.positiontup or ())
    if sorted(order) != sorted(keys):
        raise RuntimeError(f"unexpected parameters for {table.name}: {order}")
    pick = operator.itemgetter(*order)
    converters = [
        (i, convert)
        for i, key in enumerate(order)
        if (convert := table.c[key].type.dialect_impl(dialect).bind_processor(dialect))
    ]

    def values(row: Row) -> tuple[Any, ...]:
        picked = pick(row)
        if not converters:
            return picked if isinstance(picked, tuple) else (picked,)
        out = list(picked)
        for i, convert in converters:
            out[i] = convert(out[i])
        return tuple(out)

    return _Insert(str(compiled), values)


class JournalWriter(RowSink):
    """The single writer of one session's rows into a `Journal`.

    Args:
        journal: the open journal.
        session_id: stamped on every row.
        clock: gives `time_ms` when a helper is not given one (the machine's clock if None).
        capacity: rows the queue holds before new rows are dropped (and counted).
        batch_size: rows per transaction at most; a full batch wakes the writer early.
        interval_s: how long rows may wait before they are written.
    """

    def __init__(
        self,
        journal: Journal,
        session_id: str,
        *,
        clock: Clock | None = None,
        capacity: int = 50_000,
        batch_size: int = 1000,
        interval_s: float = 0.05,
    ) -> None:
        if capacity < 1 or batch_size < 1 or interval_s <= 0:
            raise ValueError("capacity and batch_size must be >= 1, interval_s > 0")
        super().__init__(session_id, clock=clock)
        self.journal = journal
        self._capacity = capacity
        self._batch_size = batch_size
        self._interval = interval_s
        self._queue: collections.deque[tuple[str, Row]] = collections.deque()
        self._inserts: dict[str, _Insert] = {}  # compiled on a table's first write
        self._conn: AsyncConnection | None = None  # the writer's connection, from the first
        self._raw: Any = None  # write to `aclose`, and its aiosqlite connection
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._unwritten: collections.Counter[tuple[str, str]] = collections.Counter()
        self._written = self._batches = self._dropped = self._errors = 0
        self._last_error: str | None = None
        self._lagging = False
        self._closing = False

    # ---------------------------------------------------------------- hot path

    def put(self, table: str, row: Row) -> bool:
        """Queue one row for `table` (a `models` table name). Never blocks, never raises.

        Returns:
            False when the row was dropped (queue full or writer closed); it is counted.
        """
        if len(self._queue) >= self._capacity or self._closing:
            self._drop(table, "closed" if self._closing else "queue_full")
            return False
        self._queue.append((table, row))
        if len(self._queue) >= self._batch_size:
            self._wake.set()
        return True

    def _drop(self, table: str, cause: str) -> None:
        self._dropped += 1
        self._unwritten[table, cause] += 1
        if not self._lagging:
            self._lagging = True
            _log.warning(
                "journal %s: %s; rows for %s and later ones are being dropped and counted "
                "(the count is journaled as a risk event %r)",
                self.journal.path, "writer closed" if cause == "closed" else
                f"queue full ({self._capacity} rows)", table, UNWRITTEN_ROWS,
            )  # fmt: skip

    # ---------------------------------------------------------------- writer task

    def health(self) -> JournalHealth:
        """A snapshot of the counters; cheap."""
        return JournalHealth(
            queued=len(self._queue), capacity=self._capacity, written=self._written,
            batches=self._batches, dropped=self._dropped,
            unreported=sum(self._unwritten.values()), lagging=self._lagging,
            errors=self._errors, last_error=self._last_error, closed=self._closing,
        )  # fmt: skip

    async def run(self) -> None:
        """Write queued rows until `aclose` is called.

        Cancel-safe: a batch being written when the task is cancelled is completed (it is
        shielded) and queued rows stay queued for `aclose`.
        """
        while not self._closing:
            if len(self._queue) < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._interval):
                        await self._wake.wait()
            self._wake.clear()
            await asyncio.shield(self._write_next())

    async def flush(self) -> None:
        """Write every row queued so far, and report any drops, before returning."""
        await self._write_next()
        while self._queue:
            await self._write_next()

    async def aclose(self) -> None:
        """Refuse new rows, write every queued row, report drops, give the connection
        back. Shielded; idempotent."""
        self._closing = True
        self._wake.set()
        await asyncio.shield(self._close())

    async def _close(self) -> None:
        try:
            await self.flush()
        finally:
            conn, self._conn, self._raw = self._conn, None, None
            if conn is not None:
                await conn.close()

    async def _write_next(self) -> None:
        async with self._lock:
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), self._batch_size))]
            if batch:
                await self._write(batch)
            if self._unwritten:
                await self._report_unwritten()

    async def _write(self, batch: list[tuple[str, Row]]) -> None:
        groups: dict[str, list[Row]] = {}
        for table, row in batch:
            groups.setdefault(table, []).append(row)
        try:
            await self._insert(groups)
        except Exception as exc:  # a bad row or a failing disk: retry in smaller parts
            self._failed(exc)
            for table, rows in groups.items():
                await self._write_group(table, rows)
            return
        self._written += len(batch)
        self._batches += 1

    async def _write_group(self, table: str, rows: list[Row]) -> None:
        try:
            await self._insert({table: rows})
            self._written += len(rows)
            self._batches += 1
            return
        except Exception as exc:
            self._failed(exc)
        for row in rows:
            try:
                await self._insert({table: [row]})
                self._written += 1
            except Exception as exc:
                self._failed(exc)
                self._unwritten[table, "write_failed"] += 1
                self._dropped += 1

    async def _insert(self, groups: Mapping[str, list[Row]]) -> None:
        # Core inserts compiled once, executed with DBAPI executemany on tuples: the same
        # SQL and type conversions as `conn.execute(insert(table), rows)` without its
        # per-row parameter processing (about twice the rows per second).
        batches = []
        for table, rows in groups.items():
            statement = self._inserts.get(table)
            if statement is None:
                if table not in _TABLES:
                    raise KeyError(f"no journal table named {table!r}")
                statement = _compile(_TABLES[table], self.journal.engine.dialect)
                self._inserts[table] = statement
            batches.append((statement.sql, [statement.values(row) for row in rows]))
        driver = await self._driver()
        try:
            for sql, values in batches:
                await driver.executemany(sql, values)
            await driver.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                await driver.rollback()
            raise

    async def _driver(self) -> Any:
        # The writer's own aiosqlite connection, taken once from the journal's pool (its
        # pragmas set): a batch is executemany per table and a commit, each one hop to
        # aiosqlite's thread. Through SQLAlchemy's AsyncConnection the same batch cost
        # ~1 ms of the engine loop (execution contexts, cursors, greenlet switches).
        if self._raw is None:
            self._conn = await self.journal.engine.connect()
            self._raw = (await self._conn.get_raw_connection()).driver_connection
        return self._raw

    def _failed(self, exc: Exception) -> None:
        self._errors += 1
        text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        if self._last_error != text:
            _log.error("journal %s: a write failed: %s", self.journal.path, text)
        self._last_error = text

    async def _report_unwritten(self) -> None:
        counts = dict(self._unwritten)
        total = sum(counts.values())
        by_table: collections.Counter[str] = collections.Counter()
        by_cause: collections.Counter[str] = collections.Counter()
        for (table, cause), n in counts.items():
            by_table[table] += n
            by_cause[cause] += n
        row = {
            "session_id": self.session_id, "time_ms": self._now_ms(), "kind": UNWRITTEN_ROWS,
            "severity": "warning",
            "reason": f"{total} journal rows were not written ({_causes(by_cause)})",
            "detail": {"rows": total, "by_table": dict(by_table), "by_cause": dict(by_cause)},
        }  # fmt: skip
        try:
            await self._insert({"risk_events": [row]})
        except Exception as exc:
            self._failed(exc)
            return
        self._unwritten.subtract(counts)  # rows dropped meanwhile stay for the next report
        self._unwritten = +self._unwritten
        self._written += 1
        if not self._unwritten:
            self._lagging = False
        _log.warning("journal %s: %s", self.journal.path, row["reason"])


def _causes(by_cause: Mapping[str, int]) -> str:
    names = {"queue_full": "queue full", "write_failed": "refused by the database",
             "closed": "after close"}  # fmt: skip
    return ", ".join(f"{n} {names.get(cause, cause)}" for cause, n in sorted(by_cause.items()))

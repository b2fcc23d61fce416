"""Opening the SQLite journal: engine, WAL, schema version; and its read-side queries.

`open_journal(path)` creates the file (and its directory) if needed, switches it to WAL
with `synchronous=NORMAL` (a commit is durable against a process crash, and against power
loss up to the last checkpoint), creates the tables, and checks the schema version: a
journal written by another schema version is refused with a `JournalError` naming both
versions and the file, and so is a SQLite file that is not a hip3term journal.

Writes go through `writer.JournalWriter` (one writer task); `Journal` itself only offers
the session bookkeeping done at start and end, and queries for reports and tests.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, insert, inspect, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from hip3term.core.clock import Clock, LiveClock
from hip3term.errors import Hip3Error
from hip3term.persistence import models
from hip3term.persistence.models import SCHEMA_VERSION, Base

__all__ = ["Journal", "JournalError", "open_journal"]

_M = TypeVar("_M", bound=Base)


class JournalError(Hip3Error):
    """The journal file cannot be used: another schema version, or not a journal."""

    title = "journal error"
    exit_code = 2


class Journal:
    """An open journal: the async engine and the queries of the read side.

    Build it with `open_journal`; close it with `aclose` (after the writer's `aclose`).
    """

    def __init__(self, path: Path, engine: AsyncEngine) -> None:
        self.path = path
        self.engine = engine

    async def aclose(self) -> None:
        """Close every connection (checkpoints the WAL)."""
        await self.engine.dispose()

    # ---------------------------------------------------------------- sessions

    async def start_session(
        self,
        session_id: str,
        *,
        mode: str,
        venue: str,
        market: str,
        config_hash: str,
        hip3term_version: str,
        started_ms: int,
        recording: str | None = None,
    ) -> None:
        """Insert the session's row (awaited once at start; not a hot-path call)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(models.Session),
                {
                    "session_id": session_id, "started_ms": started_ms, "mode": mode,
                    "venue": venue, "market": market, "config_hash": config_hash,
                    "hip3term_version": hip3term_version, "recording": recording,
                },
            )  # fmt: skip

    async def end_session(self, session_id: str, ended_ms: int) -> None:
        """Stamp the session's end time."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(models.Session)
                .where(models.Session.session_id == session_id)
                .values(ended_ms=ended_ms)
            )

    # ---------------------------------------------------------------- queries

    async def rows(self, model: type[_M], session_id: str | None = None) -> Sequence[_M]:
        """Every row of one table in insertion order, for one session or all of them."""
        query = select(model)
        if session_id is not None:
            query = query.where(model.__table__.c.session_id == session_id)
        query = query.order_by(*model.__table__.primary_key)
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            return (await session.scalars(query)).all()

    async def sessions(self) -> Sequence[models.Session]:
        """Every session, oldest first."""
        return await self.rows(models.Session)

    async def fills(self, session_id: str) -> Sequence[models.Fill]:
        """The session's fills in the order they were journaled."""
        return await self.rows(models.Fill, session_id)

    async def orders(self, session_id: str) -> Sequence[models.Order]:
        """The session's orders in the order they were journaled."""
        return await self.rows(models.Order, session_id)

    async def order_events(self, session_id: str) -> Sequence[models.OrderEvent]:
        """The session's order events in the order they were journaled."""
        return await self.rows(models.OrderEvent, session_id)

    async def signals(self, session_id: str) -> Sequence[models.Signal]:
        """The session's signals and decisions."""
        return await self.rows(models.Signal, session_id)

    async def risk_events(self, session_id: str) -> Sequence[models.RiskEvent]:
        """The session's risk and system events."""
        return await self.rows(models.RiskEvent, session_id)

    async def operator_actions(self, session_id: str) -> Sequence[models.OperatorAction]:
        """The session's audit trail of operator actions."""
        return await self.rows(models.OperatorAction, session_id)

    async def position_snapshots(self, session_id: str) -> Sequence[models.PositionSnapshot]:
        """The session's position snapshots."""
        return await self.rows(models.PositionSnapshot, session_id)

    async def latest_strategy_state(self, strategy: str) -> models.StrategyState | None:
        """The newest saved state of `strategy` over every session (restore on restart)."""
        query = (
            select(models.StrategyState)
            .where(models.StrategyState.strategy == strategy)
            .order_by(models.StrategyState.id.desc())
            .limit(1)
        )
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            return (await session.scalars(query)).first()

    async def latest_top(self, market: str) -> models.LatestTop | None:
        """The last top of book journaled for `market`."""
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            return await session.get(models.LatestTop, market)

    async def pragma(self, name: str) -> Any:
        """The value of `PRAGMA <name>` on a connection of the pool (e.g. journal_mode)."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a pragma name: {name!r}")
        async with self.engine.connect() as conn:
            return (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


async def open_journal(path: str | os.PathLike[str], clock: Clock | None = None) -> Journal:
    """Open (or create) the journal at `path`, in WAL mode, and check its schema version.

    Args:
        path: the SQLite file, e.g. `state/journal.sqlite` (`paths.journal` in the config).
        clock: stamps the creation time of a new journal (the machine's clock if None).

    Raises:
        JournalError: the file holds another schema version, is not a hip3term journal,
            or is not a SQLite database at all.
    """
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(f"sqlite+aiosqlite:///{file}")
    event.listen(engine.sync_engine, "connect", _on_connect)
    try:
        async with engine.begin() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            if models.SchemaVersion.__tablename__ in tables:
                found = (await conn.execute(select(models.SchemaVersion.version))).scalars()
                versions = sorted(found)
                if versions != [SCHEMA_VERSION]:
                    raise JournalError(
                        f"{file}: journal schema version {_versions(versions)}, but this "
                        f"hip3term uses version {SCHEMA_VERSION}; point paths.journal at "
                        "another file (or move this one away) to start a new journal"
                    )
            elif tables:
                raise JournalError(
                    f"{file}: a SQLite database that is not a hip3term journal (tables: "
                    f"{', '.join(sorted(tables)[:5])}); point paths.journal at another file"
                )
            await conn.run_sync(Base.metadata.create_all)
            if not tables:
                await conn.execute(
                    insert(models.SchemaVersion),
                    {"version": SCHEMA_VERSION, "created_ms": (clock or LiveClock()).now_ms()},
                )
    except JournalError:
        await engine.dispose()
        raise
    except (DBAPIError, SQLAlchemyError) as exc:
        await engine.dispose()
        reason = getattr(exc, "orig", None) or exc
        raise JournalError(f"{file}: cannot be opened as a journal: {reason}") from None
    return Journal(file, engine)


def _versions(versions: list[int]) -> str:
    if not versions:
        return "missing"
    return ", ".join(map(str, versions))

"""`hip3term report`: the report of a live (or observed) session from its journal and
its recording."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hip3term.cli.common import ConfigOption
from hip3term.errors import Hip3Error

if TYPE_CHECKING:
    from hip3term.persistence.db import Journal
    from hip3term.persistence.models import Session
    from hip3term.replay.report import Report, SessionRows

_HELP = """\
Report on a session of `hip3term run`: its fills with 1 s / 10 s / 60 s markouts
against the mid and the oracle (read from the session's recording), expected versus
realized edge, slippage against the touch at decision time, fill rate, time to flat, the
PnL curve and maximum drawdown, the latch's halts with their reasons, and the worst
fills. The same report as `hip3term replay` prints, so a live session and its replay
compare line by line. Saved beside the recording as <name>.report.json and
<name>.report.fills.csv.

SESSION is a session id from the journal (paths.journal), a unique prefix of one, or
`last` for the most recent session.

Examples:

\b
  hip3term report last
  hip3term report 64978e61 --json
"""

SessionArgument = Annotated[
    str, typer.Argument(metavar="SESSION", show_default=False,
                        help="Session id (or a unique prefix of one), or `last`.")]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the report as JSON on stdout instead of tables.")]
NoSaveOption = Annotated[
    bool, typer.Option("--no-save", help="Do not write the report files.")]


class SessionNotFoundError(Hip3Error):
    """No session (or more than one) matches what was asked for."""

    title = "no such session"
    exit_code = 2


def register(app: typer.Typer) -> None:
    """Add the `report` command to the root app."""
    app.command("report", help=_HELP,
                short_help="Fills, markouts, PnL and halts of a live session.")(report)


def report(session: SessionArgument, config: ConfigOption = None,
           json_out: JsonOption = False, no_save: NoSaveOption = False) -> None:  # fmt: skip
    """Report on a session."""
    import orjson

    from hip3term.cli.common import settings_from_cli
    from hip3term.replay.report import render, save

    settings = settings_from_cli(config)
    built, stem = session_report(settings.paths.journal, session)
    if json_out:
        sys.stdout.write(orjson.dumps(built.as_dict(), default=str,
                                      option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        render(built)
    if not no_save:
        paths = save(built, stem)
        if not json_out:
            typer.echo("saved " + " and ".join(str(p) for p in paths))


def session_report(journal_path: Path, wanted: str) -> tuple[Report, Path]:
    """The report of the session `wanted` of the journal, and the stem to save it under
    (beside its recording, else beside the journal).

    Raises:
        SessionNotFoundError: no journal, or no session or several match.
        JournalError: the journal cannot be opened.
    """
    import asyncio

    from hip3term.replay.report import MarketSeries, build_report, series_from_recording

    if not journal_path.exists():
        raise SessionNotFoundError(f"no journal at {journal_path} (paths.journal)")
    found, rows = asyncio.run(load_session(journal_path, wanted))
    recording = Path(found.recording) if found.recording else None
    series = (series_from_recording(recording) if recording is not None and recording.exists()
              else MarketSeries())  # fmt: skip
    meta: dict[str, Any] = {
        "source": f"{found.mode} session", "market": found.market, "session": found.session_id,
        "venue": found.venue, "started_ms": found.started_ms, "ended_ms": found.ended_ms,
        "recording": str(recording) if recording else None,
        "markouts": None if series.end_ns else "no recording: markouts unknown",
        "recording_damage": series.damage,
    }  # fmt: skip
    built = build_report(rows, series, market=found.market, meta=meta)
    folder = recording.parent if recording is not None else journal_path.parent
    name = recording.stem if recording is not None else f"session-{found.session_id}"
    return built, folder / f"{name}.report"


async def load_session(journal_path: Path, wanted: str) -> tuple[Session, SessionRows]:
    """The session `wanted` of the journal and its rows.

    Raises:
        SessionNotFoundError: no session or several match.
        JournalError: the journal cannot be opened.
    """
    from hip3term.persistence.db import open_journal
    from hip3term.replay.report import SessionRows

    journal = await open_journal(journal_path)
    try:
        found = await _find(journal, wanted)
        sid = found.session_id
        return found, SessionRows(
            tuple(await journal.fills(sid)), tuple(await journal.orders(sid)),
            tuple(await journal.signals(sid)), tuple(await journal.risk_events(sid)),
            tuple(await journal.operator_actions(sid)), tuple(await journal.order_events(sid)))
    finally:
        await journal.aclose()


async def _find(journal: Journal, wanted: str) -> Session:
    sessions = list(await journal.sessions())
    if not sessions:
        raise SessionNotFoundError(f"the journal {journal.path} holds no session")
    if wanted in ("last", "latest"):
        return max(sessions, key=lambda s: s.started_ms)
    matches = [s for s in sessions if s.session_id.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    recent = ", ".join(s.session_id[:12] for s in sorted(sessions, key=lambda s: -s.started_ms)[:5])
    if not matches:
        raise SessionNotFoundError(f"no session {wanted!r} in {journal.path} (recent: {recent})")
    raise SessionNotFoundError(f"{wanted!r} matches {len(matches)} sessions; give more of the id")

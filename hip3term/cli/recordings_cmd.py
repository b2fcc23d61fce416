"""`hip3term recordings list|info`: what the session recordings under recordings/ hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hip3term.cli.common import ConfigOption

if TYPE_CHECKING:
    from hip3term.recording.reader import RecordingInfo

_GROUP_HELP = """\
List and inspect session recordings (.h3rec files).

Every `hip3term run` and `hip3term record` session writes one file under the recordings
directory (paths.recordings_dir, `recordings/` by default): each raw frame received and
each message sent, with local wall/monotonic receive times in ns and the exchange's time.
The file is flushed at least every 100 ms, so after a crash it reads back up to its last
flush; a damaged or torn end is reported, never fatal.
"""

_DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        metavar="DIR",
        file_okay=False,
        show_default=False,
        help="Directory to list; defaults to paths.recordings_dir of the configuration "
        "(recordings/ unless configured otherwise).",
    ),
]
_FileArgument = Annotated[
    Path,
    typer.Argument(metavar="FILE", show_default=False, help="A recording (.h3rec file)."),
]
_JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON object instead of text: `frames` maps channel name to count; "
        "also time_span, duration_s, sent, gaps, malformed_frames and damage.",
    ),
]
_GapOption = Annotated[
    float | None,
    typer.Option(
        "--gap",
        metavar="SECONDS",
        min=0.001,
        show_default=False,
        help="Report every silence longer than this on any streaming channel. Without it: "
        "10 s for l2Book, bbo and activeAssetCtx, 60 s for trades.",
    ),
]
_NoParseOption = Annotated[
    bool,
    typer.Option(
        "--no-parse",
        help="Skip parsing every frame (5-10 µs each, a minute per hour of a busy feed): "
        "faster, but malformed frames are not counted.",
    ),
]


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.1f}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def list_recordings(directory: _DirOption = None, config: ConfigOption = None) -> None:
    """One line per recording: name, size, duration, frames, market and venue."""
    from hip3term.errors import Hip3Error, RecordingError
    from hip3term.recording.format import EXTENSION
    from hip3term.recording.reader import summarize

    if directory is None:
        from hip3term.cli.common import settings_from_cli

        directory = settings_from_cli(config).paths.recordings_dir
    if not directory.is_dir():
        raise RecordingError(f"{directory}: no such directory (see --dir)")
    files = sorted(p for p in directory.iterdir() if p.name.endswith(EXTENSION))
    if not files:
        typer.echo(f"no recordings in {directory}")
        return
    rows = [("NAME", "SIZE", "DURATION", "FRAMES", "MARKET", "VENUE")]
    for path in files:
        try:
            info = summarize(path, parse=False)
        except Hip3Error as exc:
            rows.append((path.name, _size(_file_size(path)), "-", "-", "unreadable:", exc.message))
            continue
        frames = f"{info.frames_total}" + (" (torn tail)" if info.truncated_tail else "")
        rows.append((
            path.name, _size(info.size_bytes), _duration(info.duration_s), frames,
            info.header.market, info.header.venue,
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[-1]]).rstrip())


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def info(
    file: _FileArgument,
    as_json: _JsonOption = False,
    gap: _GapOption = None,
    no_parse: _NoParseOption = False,
) -> None:
    """Duration, time span, frames per channel, gaps and malformed frames of a recording."""
    from hip3term.recording.reader import summarize

    summary = summarize(file, gap_thresholds_s=gap, parse=not no_parse)
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        for line in _describe(summary):
            typer.echo(line)


def _describe(info: RecordingInfo) -> list[str]:
    h, data = info.header, info.to_json()
    span = data["time_span"]
    lines = [
        f"file:       {info.path} ({_size(info.size_bytes)})",
        f"market:     {h.market} on {h.venue} ({h.ws_url})",
        f"session:    {h.session_id}, hip3term {h.hip3term_version}, config {h.config_hash}",
        f"time span:  {span['first_utc']} -> {span['last_utc']} ({_duration(info.duration_s)})",
        f"frames:     {info.frames_total}",
    ]
    width = max((len(name) for name in info.frames), default=0)
    lines += [f"  {name.ljust(width)}  {n}" for name, n in sorted(info.frames.items())]
    if info.frames_without_channel:
        lines.append(f"  (no channel: greeting or not JSON)  {info.frames_without_channel}")
    sent = ", ".join(f"{name} {n}" for name, n in sorted(info.sent.items())) or "nothing"
    lines.append(f"sent:       {sent}")
    if info.dropped_records:
        lines.append(f"DROPPED:    {info.dropped_records} records (disk too slow or failing)")
    lines.append(_gaps_line(info))
    lines += [f"  {g['channel']}: {g['seconds']} s from {g['start_utc']}" for g in data["gaps"]]
    regressions = info.exchange_time_regressions
    lines.append(
        "exchange time went backwards: "
        + (", ".join(f"{c} {n}x" for c, n in sorted(regressions.items())) or "never")
    )
    if not info.frames_parsed:
        lines.append("malformed:  not checked (--no-parse)")
    else:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(info.malformed_frames.items()))
        lines.append(f"malformed:  {kinds or 'none'}")
    lines.append(f"damage:     {_damage(info)}")
    return lines


def _gaps_line(info: RecordingInfo) -> str:
    limits = ", ".join(f"{c} {s:g} s" for c, s in sorted(info.gap_thresholds_s.items()))
    listed = f" (first {len(info.gaps)} listed)" if info.gap_count > len(info.gaps) else ""
    return f"gaps:       {info.gap_count} over {limits or 'no thresholds'}{listed}"


def _damage(info: RecordingInfo) -> str:
    from hip3term.recording.reader import describe_damage

    return describe_damage(truncated_tail=info.truncated_tail, tail_offset=info.tail_offset,
                           corrupt_blocks=info.corrupt_blocks, skipped_bytes=info.skipped_bytes,
                           malformed_records=info.malformed_records) or "none"  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add the `recordings` command group to the root app."""
    recordings_app = typer.Typer(
        name="recordings",
        help=_GROUP_HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    recordings_app.command("list")(list_recordings)
    recordings_app.command("info")(info)
    app.add_typer(recordings_app, name="recordings", short_help="List and inspect recordings.")

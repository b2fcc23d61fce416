"""Parameter sweeps: a small grid of replays in a process pool.

`parse_axis("threshold_bps=5,10,15")` gives one axis; `grid(axes)` every combination (the
product, first axis slowest); `run_sweep(...)` replays the recording once per combination
in a `concurrent.futures.ProcessPoolExecutor` (each run is independent and
deterministic, so the pool's scheduling changes nothing) and returns one `SweepRow` per
run, in grid order: the values, the report's summary and the fill hash.

Keys are those of `--set`: a strategy parameter (validated by the plugin's `Params`), or
`section.field` for a setting (`risk.time_stop_s`). Values are read as JSON scalars when
they parse (`5`, `0.5`, `true`), else as text.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from hip3term.config import Settings
from hip3term.errors import ConfigError
from hip3term.replay.runner import ReplayConfig, replay, replay_settings

__all__ = ["SweepRow", "grid", "parse_assignment", "parse_axis", "parse_value", "run_sweep"]


@dataclass(frozen=True, slots=True)
class SweepRow:
    """One run of a sweep: its values, the report's summary, its fill hash and time."""

    values: Mapping[str, Any]
    summary: Mapping[str, Any]
    fill_hash: str
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly."""
        return {"values": dict(self.values), "summary": dict(self.summary),
                "fill_hash": self.fill_hash, "wall_s": self.wall_s}  # fmt: skip


def parse_value(text: str) -> Any:
    """A JSON scalar when `text` is one (`5`, `0.5`, `true`, `null`), else the text."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, int | float | bool | str) or value is None else text


def parse_assignment(text: str, *, option: str = "--set",
                     example: str = "threshold_bps=10") -> tuple[str, Any]:  # fmt: skip
    """`key=value` -> (key, value); `option` and `example` name it in the error.

    Raises:
        ConfigError: no `=`, or an empty key.
    """
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise ConfigError(f"{option} {text!r}: expected key=value, e.g. {example}")
    return key.strip(), parse_value(value.strip())


def parse_axis(text: str) -> tuple[str, list[Any]]:
    """`key=v1,v2,...` -> (key, values).

    Raises:
        ConfigError: no `=`, an empty key or no value.
    """
    key, eq, values = text.partition("=")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not eq or not key.strip() or not items:
        raise ConfigError(f"--sweep {text!r}: expected key=v1,v2,..., e.g. threshold_bps=5,10")
    return key.strip(), [parse_value(v) for v in items]


def grid(axes: Sequence[tuple[str, Sequence[Any]]]) -> list[dict[str, Any]]:
    """Every combination of the axes' values (the first axis varies slowest).

    Raises:
        ConfigError: the same key twice.
    """
    keys = [key for key, _ in axes]
    if len(set(keys)) != len(keys):
        raise ConfigError("--sweep: each key may be swept once")
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(values for _, values in axes))]


def _run_one(job: tuple[ReplayConfig, dict[str, Any]]) -> SweepRow:
    config, values = job
    result = replay(config)
    return SweepRow(values, dict(result.report.summary), result.fill_hash, result.wall_s)


def run_sweep(recording: str | Path, settings: Settings, *,
              axes: Sequence[tuple[str, Sequence[Any]]], strategy: str | None = None,
              overrides: Mapping[str, Any] | None = None, workers: int | None = None,
              **knobs: Any) -> list[SweepRow]:  # fmt: skip
    """Replay `recording` once per combination of `axes` in a process pool.

    Args:
        recording: the recording.
        settings: the base settings.
        axes: (key, values) pairs, as `parse_axis` gives them.
        strategy: the strategy (default: the settings').
        overrides: `--set` values applied to every run (a swept key wins).
        workers: processes (default: one per CPU, at most one per run).
        **knobs: `ReplayConfig` fields for every run (latency_ms, fees_bps, seed, ...).

    Raises:
        ConfigError, PluginError: a bad key or value (checked for every run before any
            run starts).
    """
    jobs = []
    for values in grid(axes):
        merged = {**(overrides or {}), **values}
        run_settings = replay_settings(settings, recording, strategy=strategy,
                                       overrides=merged)  # fmt: skip
        jobs.append((ReplayConfig(Path(recording), run_settings, **knobs), values))
    count = max(1, min(len(jobs), workers or os.cpu_count() or 1))
    if count == 1:
        return [_run_one(job) for job in jobs]
    context = multiprocessing.get_context("spawn")  # no inherited threads or loops
    with concurrent.futures.ProcessPoolExecutor(count, mp_context=context) as pool:
        return list(pool.map(_run_one, jobs))

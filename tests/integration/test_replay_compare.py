"""Gated versus ungated replays side by side (`hip3term.replay.compare`, `hip3term replay
--compare`): both configurations through the real replay (engine, gates, executor, the
simulator's matching against the recorded book) of a simulator recording, with a gate
trained on another recording; the counts, the verdict, the table, the JSON and the
command's refusals."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

from hip3term.config import Settings, load_settings
from hip3term.errors import ConfigError
from hip3term.ml.dataset import DatasetSpec, build_dataset
from hip3term.ml.train import TrainConfig, save_bundle, train_gate
from hip3term.replay.compare import (
    Comparison,
    RecordingRun,
    RunFigures,
    RunResult,
    Variant,
    compare_replays,
    format_comparison,
    verdict,
)
from hip3term.replay.runner import run_replay
from tests.unit.test_ml_dataset import write_sim_recording

ROOT = Path(__file__).resolve().parents[2]
# the taker's rule the gate is trained on (fees 2 x 0.9 bps, threshold 0); the latch's
# loss count relaxed so that neither run stops early
BASE: dict[str, Any] = {"taker_fee_bps": 0.9, "threshold_bps": 0,
                        "risk.max_consecutive_losses": 1000}  # fmt: skip


def settings() -> Settings:
    return load_settings(overrides={}, env={})


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four minutes of the simulator's market, not trained on."""
    return write_sim_recording(tmp_path_factory.mktemp("held"), seed=32, minutes=4)


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small gate trained on ten minutes of another seed."""
    folder = tmp_path_factory.mktemp("gate")
    recording = write_sim_recording(folder / "rec", seed=31, minutes=10)
    dataset = build_dataset([recording], DatasetSpec(fees_bps=1.8))
    save_bundle(folder / "model", train_gate(dataset, TrainConfig(max_rounds=80)), dataset)
    return folder / "model"


def _gated(model: Path, threshold: float) -> dict[str, Any]:
    return {"gate_model": str(model), "gate_threshold": threshold}


def test_both_runs_are_the_real_replay_and_the_gate_filters_entries(
    held_out: Path, gate: Path
) -> None:
    result = compare_replays(
        [held_out],
        settings(),
        overrides=BASE,
        workers=1,
        variants=[Variant("gate", _gated(gate, 0.6))],
    )
    base, gated = result.runs
    assert (base.name, gated.name) == ("baseline", "gate")
    assert dict(gated.overrides) == {**BASE, **_gated(gate, 0.6)}
    # the same runs as `hip3term replay` with the same settings: same fills
    plain = run_replay(held_out, settings(), overrides=BASE)
    with_gate = run_replay(held_out, settings(), overrides={**BASE, **_gated(gate, 0.6)})
    assert base.fill_hashes == (plain.fill_hash,)
    assert gated.fill_hashes == (with_gate.fill_hash,)
    assert base.fill_hashes != gated.fill_hashes
    # the figures are the replay report's
    for run, replayed in ((base, plain), (gated, with_gate)):
        s, f = replayed.report.summary, run.figures
        assert f.fills == s["fills"] == len(replayed.fills) and f.orders == s["orders"]
        assert f.round_trips == s["round_trips"] and f.wins == s["wins"]
        assert f.realized_pnl == Decimal(s["realized_pnl"]) and f.fees == Decimal(s["fees"])
        assert f.max_drawdown == s["max_drawdown"] and f.halts == s["halts"] == 0
        assert f.realized_edge_bps == pytest.approx(s["realized_edge_bps"])
        assert f.markout_mid_10s_bps == pytest.approx(replayed.report.markouts["mid_10s"])
    # the market is the recording's: both runs see the same entry signals; the gate only
    # refuses some of them, so it enters less often
    b, g = base.figures, gated.figures
    assert b.signals == g.signals > 0
    assert b.gated_out == 0 < g.gated_out <= g.signals
    assert 0 < g.entries < b.entries and g.traded <= g.entries
    assert 0 < b.traded <= b.entries
    assert len(result.verdicts) == 1 and result.verdicts[0].startswith("the gate ")


def test_threshold_zero_trades_like_the_baseline_and_one_trades_nothing(
    held_out: Path, gate: Path
) -> None:
    result = compare_replays([held_out], settings(), overrides=BASE, workers=2,
                             variants=[Variant("p0", _gated(gate, 0.0)),
                                       Variant("p1", _gated(gate, 1.0))])  # fmt: skip
    base, everything, nothing = result.runs
    assert everything.fill_hashes == base.fill_hashes  # p >= 0 passes every signal
    assert everything.figures.gated_out == 0
    assert result.verdicts[0] == ("the gate does NOT trade fewer signals with a higher average "
                                  "realized edge: it made the same trades as the baseline "
                                  f"({base.figures.traded} traded, same fills)")  # fmt: skip
    n = nothing.figures
    assert (n.entries, n.traded, n.orders, n.fills, n.round_trips) == (0, 0, 0, 0, 0)
    assert n.gated_out > 0 and n.realized_pnl == 0 and n.realized_edge_bps is None
    assert result.verdicts[1].startswith(
        "the gate does NOT trade fewer signals with a higher "
        "average realized edge: it made no trades at all"
    )
    # the pool gives what one process gives
    alone = compare_replays(
        [held_out],
        settings(),
        overrides=BASE,
        workers=1,
        variants=[Variant("p1", _gated(gate, 1.0))],
    )
    assert alone.runs[1].figures == nothing.figures and alone.runs[0].figures == base.figures


def test_several_recordings_add_up(held_out: Path, gate: Path) -> None:
    one = compare_replays([held_out], settings(), overrides=BASE, workers=1, variants=[])
    two = compare_replays([held_out, held_out], settings(), overrides=BASE, workers=1, variants=[])
    a, b = one.runs[0].figures, two.runs[0].figures
    assert (b.signals, b.entries, b.fills, b.round_trips) == (
        2 * a.signals,
        2 * a.entries,
        2 * a.fills,
        2 * a.round_trips,
    )
    assert b.realized_pnl == 2 * a.realized_pnl and b.fees == 2 * a.fees
    assert b.realized_edge_bps == pytest.approx(a.realized_edge_bps)
    assert b.max_drawdown >= a.max_drawdown
    assert len(two.runs[0].parts) == 2 and two.verdicts == ()


# ---------------------------------------------------------------- the verdict, by hand


def _run(
    name: str,
    *,
    traded: int,
    edge: float | None,
    fills: int | None = None,
    fill_hash: str | None = None,
) -> RunResult:
    fills = 2 * traded if fills is None else fills
    figures = RunFigures(
        signals=100, gated_out=0, entries=traded, traded=traded, orders=fills, fills=fills,
        round_trips=traded if edge is not None else 0, wins=0, halts=0,
        expected_edge_bps=None, realized_edge_bps=edge, markout_mid_10s_bps=None,
        realized_pnl=Decimal(0), max_drawdown=0.0, fees=Decimal(0))  # fmt: skip
    part = RecordingRun("r", 100, 0, traded, traded, fills, fills, (), (), (), (), (),
                        Decimal(0), (), fill_hash or f"hash-{name}", 0.0)  # fmt: skip
    return RunResult(name, {}, figures, (part,))


@pytest.mark.parametrize(("traded", "edge", "fills", "expected"), [
    (5, 3.0, None, "the gate trades fewer signals with a higher average realized edge: "
                   "5 traded against 10, mean realized edge 3.00 bps against 1.00"),
    (5, 1.0, None, "NOT trade fewer signals with a higher average realized edge: 5 traded "
                   "against 10, but a mean realized edge no higher (1.00 bps against 1.00)"),
    (5, 0.5, None, "but a mean realized edge no higher (0.50 bps against 1.00)"),
    (12, 9.0, None, "NOT trade fewer signals with a higher average realized edge: it traded "
                    "12 signals, the baseline 10"),
    (10, 9.0, None, "it traded 10 signals, the baseline 10"),
    (0, None, 0, "it made no trades at all (0 signal(s) gated out, 0 entries; the baseline "
                 "traded 10)"),
    (3, None, 3, "3 traded against 10, but it closed no round trip: no realized edge"),
])  # fmt: skip
def test_verdict_says_plainly_whether_and_why_not(
    traded: int, edge: float | None, fills: int | None, expected: str
) -> None:
    base = _run("base", traded=10, edge=1.0)
    line = verdict(base, _run("gate", traded=traded, edge=edge, fills=fills), subject="the gate")
    assert expected in line
    assert line.startswith("the gate does NOT ") != expected.startswith("the gate trades")


def test_verdict_same_fills_and_an_idle_baseline() -> None:
    base = _run("base", traded=10, edge=1.0, fill_hash="same")
    assert "the same trades as the baseline (10 traded, same fills)" in verdict(
        base, _run("v", traded=10, edge=1.0, fill_hash="same")
    )
    idle = _run("base", traded=0, edge=None, fills=4)
    assert "the baseline traded nothing" in verdict(idle, _run("v", traded=2, edge=5.0))


# ---------------------------------------------------------------- table, JSON, commands


def test_the_table_and_the_json_hold_both_runs(held_out: Path, gate: Path) -> None:
    result = compare_replays(
        [held_out],
        settings(),
        overrides=BASE,
        workers=1,
        variants=[Variant("gate p >= 1", _gated(gate, 1.0))],
    )
    text = format_comparison(result)
    lines = text.splitlines()
    assert lines[0].startswith("replay comparison: oracle_dislocation over 1 recording(s)")
    header = next(line for line in lines if "change" in line)
    assert header.split() == ["baseline", "gate", "p", ">=", "1", "change"]
    rows = {
        line.split("  ")[0]: line.split()[-3:]
        for line in lines[lines.index(header) + 1 :]
        if line[:1].isalpha() and not line.startswith(("the ", "baseline:", "gate p"))
    }
    assert rows["signals"][0] == rows["signals"][1] == str(result.runs[0].figures.signals)
    assert rows["fills"] == [
        str(result.runs[0].figures.fills),
        "0",
        f"-{result.runs[0].figures.fills}",
    ]
    assert result.verdicts[0] in lines
    data = orjson.loads(orjson.dumps(result.as_dict(), default=str))
    assert [run["name"] for run in data["runs"]] == ["baseline", "gate p >= 1"]
    assert data["runs"][1]["figures"]["fills"] == 0
    assert data["runs"][0]["recordings"][0]["fill_hash"] == result.runs[0].fill_hashes[0]
    assert data["verdicts"] == list(result.verdicts) and data["knobs"]["seed"] == 0
    assert isinstance(result, Comparison)


def _app() -> typer.Typer:
    from hip3term.cli import replay_cmd

    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    replay_cmd.register(app)
    return app


def _base_flags() -> list[str]:
    return [arg for key, value in BASE.items() for arg in ("--set", f"{key}={value}")]


def test_replay_compare_command_prints_saves_and_gives_json(
    held_out: Path, gate: Path, tmp_path: Path
) -> None:
    copy = tmp_path / held_out.name
    copy.write_bytes(held_out.read_bytes())
    flags = [*_base_flags(), "--compare", f"gate_model={gate}", "--workers", "1"]
    done = CliRunner().invoke(
        _app(), ["replay", str(copy), *flags, "--compare", "gate_threshold=1.0"]
    )
    assert done.exit_code == 0, done.output
    out = done.output
    assert "replay comparison" in out and "gated out" in out and "markout 10 s mid" in out
    assert "baseline" in out and "variant" in out and "does NOT" in out
    assert "no trades at all" in " ".join(out.split())
    saved = orjson.loads(copy.with_name(copy.stem + ".compare.json").read_bytes())
    assert [run["name"] for run in saved["runs"]] == ["baseline", "variant"]
    assert saved["runs"][1]["overrides"]["gate_threshold"] == 1.0
    assert saved["runs"][1]["figures"]["fills"] == 0 < saved["runs"][0]["figures"]["fills"]
    as_json = CliRunner().invoke(
        _app(),
        ["replay", str(copy), *flags, "--compare", "gate_threshold=0", "--json", "--no-save"],
    )
    assert as_json.exit_code == 0, as_json.output
    data = orjson.loads(as_json.output)
    assert (
        data["runs"][0]["recordings"][0]["fill_hash"]
        == (saved["runs"][0]["recordings"][0]["fill_hash"])
    )  # the same baseline, replayed again
    assert data["runs"][1]["figures"]["gated_out"] == 0
    assert "the same trades" in data["verdicts"][0]


def test_compare_is_refused_with_sweep_or_tui_and_needs_key_value(held_out: Path) -> None:
    for extra in (["--sweep", "threshold_bps=0,5"], ["--tui"]):
        done = CliRunner().invoke(
            _app(), ["replay", str(held_out), "--compare", "gate_threshold=0.6", *extra]
        )
        assert isinstance(done.exception, ConfigError) and done.exception.exit_code == 2
        assert f"--compare cannot be combined with {extra[0]}" in str(done.exception)
    bad = CliRunner().invoke(_app(), ["replay", str(held_out), "--compare", "gate_threshold"])
    assert isinstance(bad.exception, ConfigError)
    assert "--compare 'gate_threshold': expected key=value" in str(bad.exception)
    # the installed command exits with status 2 and no traceback
    real = subprocess.run(
        [
            sys.executable,
            "-m",
            "hip3term",
            "replay",
            str(held_out),
            "--compare",
            "gate_threshold=0.6",
            "--sweep",
            "threshold_bps=0,5",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert real.returncode == 2, real.stderr
    assert "--compare cannot be combined with --sweep" in real.stderr
    assert "Traceback" not in real.stderr


def test_the_compare_module_imports_without_textual_or_rich() -> None:
    code = (
        "import sys, hip3term.replay.compare; "
        "print(sorted(m for m in ('textual', 'rich', 'hip3term.tui') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

"""The compiled hot path's guard (`hip3term._native`): the build is used only when it is
whole and was made from the sources on disk; otherwise every listed module is imported from
its `.py` file. (That the two give the same replays: tests/integration/test_replay.py.)"""

from __future__ import annotations

import ast
import dataclasses
import importlib.machinery
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from hip3term import _native
from hip3term.book.features import Feature, Features
from hip3term.book.market_state import AssetContext
from hip3term.core.clock import SimClock
from hip3term.execution.flatten import FlattenStep
from hip3term.feeds.dedupe import Verdict
from hip3term.positions.tracker import Position
from hip3term.risk.latch import MarketHealth, RiskInputs
from hip3term.strategy import StrategyParams
from hip3term.strategy.harness import StrategyHarness
from hip3term.strategy.loader import find_strategy
from hip3term.venue.hyperliquid.wire import Trades
from tests.unit.test_strategy_api import coin_info

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import importlib, json, sys; from hip3term import _native; "
         "print(json.dumps([_native.STATUS, "
         "[importlib.import_module(m).__file__ for m in _native.MODULES]]))")  # fmt: skip


def probe(**env: str) -> tuple[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    status, files = json.loads(done.stdout)
    return status, files


def test_the_built_modules_are_the_ones_imported() -> None:
    status, files = probe(**{_native.PURE_ENV: "0"})
    assert status == "compiled", "run `make` (it compiles the hot path) before the tests"
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    assert len(files) == len(_native.MODULES) >= 20
    assert all(file.endswith(suffixes) for file in files), files


def test_pure_env_imports_every_listed_module_from_its_source() -> None:
    status, files = probe(**{_native.PURE_ENV: "1"})
    assert status == f"pure ({_native.PURE_ENV} is set)"
    assert files == [str(_native.source_path(m)) for m in _native.MODULES]


def test_a_build_of_other_sources_or_no_build_is_not_trusted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv(_native.PURE_ENV, raising=False)
    record = tmp_path / "_native.json"
    monkeypatch.setattr(_native, "MANIFEST", record)
    assert _native._why_pure() == "not built (make builds it)"
    built = _native.manifest()
    record.write_text(json.dumps(built))
    assert _native._why_pure() is None  # the build matches the sources on disk
    edited = {**built, _native.MODULES[3]: "0" * 64}  # one source changed since the build
    record.write_text(json.dumps(edited))
    assert _native._why_pure() == "sources changed since the build (make rebuilds it)"
    record.write_text("{not json")
    assert (_native._why_pure() or "").startswith("unreadable _native.json")


def test_version_says_which_path_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "hip3term", "--version"], cwd=ROOT,
                          env={**os.environ, _native.PURE_ENV: "1"}, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"(hot path: pure ({_native.PURE_ENV} is set))")


# -- hot records (see the module docstring of hip3term._native) -------------------------


def _health(n: int) -> MarketHealth:
    return MarketHealth(f"xyz:M{n}", n + 0.5, Decimal(n), Decimal(n + 1))


# each record with a value for every field, in field order, none equal to a default
HOT_RECORDS: dict[type, tuple[object, ...]] = {
    Verdict: (Trades(()), 3, True),
    AssetContext: (Decimal(1), Decimal(2), Decimal(3), Decimal(4), Decimal(5), Decimal(6), 7,
                   8),
    MarketHealth: ("xyz:COIN", 1.5, Decimal(2), Decimal(3)),
    RiskInputs: (Decimal(1), Decimal(2), 3, 4, 5, (_health(1), _health(2)), 7),
    Position: ("xyz:COIN", Decimal(2), Decimal(3), 4, Decimal(5), Decimal(6)),
    FlattenStep: ((object(),), (object(), object())),
    Features: (7, Feature(Decimal(1)), *(Feature(i + 0.5) for i in range(11))),
}


@pytest.mark.parametrize("cls", HOT_RECORDS, ids=lambda cls: cls.__name__)
def test_hot_records_are_built_by_their_own_constructor_with_every_field(cls: type) -> None:
    # a constructor written in the class, not the one `dataclasses` generates (Python code
    # even in a compiled module: `__code__` from "<string>")
    init_code = getattr(cls.__init__, "__code__", None)
    assert init_code is None or init_code.co_filename != "<string>", cls
    fields = dataclasses.fields(cls)
    values = dict(zip((field.name for field in fields), HOT_RECORDS[cls], strict=True))
    by_name, in_order = cls(**values), cls(*values.values())
    for record in (by_name, in_order):
        assert {name: getattr(record, name) for name in values} == values
    again = dataclasses.replace(by_name)
    assert {name: getattr(again, name) for name in values} == values
    if cls is AssetContext:  # each context received is its own: equal only to itself
        assert by_name == by_name and by_name != in_order
    else:  # equal and hashable by value, as the generated dataclasses were
        assert by_name == in_order == again and hash(by_name) == hash(in_order)
        assert repr(by_name) == repr(in_order)
    for name in values:  # and frozen
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(by_name, name, values[name])
    required = {field.name: values[field.name] for field in fields
                if field.default is dataclasses.MISSING}
    defaulted = cls(**required)
    for field in fields:
        if field.default is not dataclasses.MISSING:
            assert getattr(defaulted, field.name) == field.default


# -- the shipped strategies (compiled too: see the module docstring of hip3term._native) ----


@pytest.mark.parametrize("name", ["oracle_dislocation", "maker"])
def test_a_compiled_strategy_keeps_the_plugin_contract(name: str) -> None:
    cls = find_strategy(name)
    assert cls.__module__ == f"plugins.{name}.strategy"
    # the base's class attributes stay values on the class (a class attribute the base did
    # not declare ClassVar would become an instance attribute of a native class)
    assert cls.name == name and cls.description
    assert type(cls.timer_interval_s) is float
    assert issubclass(cls.Params, StrategyParams)
    strategy = cls(cls.Params())
    assert strategy.params == cls.Params() and strategy.status()
    # every market-data and timer callback is its own method, and the class's callbacks can
    # be replaced and restored (the replay benchmark's no-op strategy does)
    callbacks = ("on_book", "on_bbo", "on_asset_ctx", "on_timer")
    saved = {callback: cls.__dict__[callback] for callback in callbacks}
    try:
        for callback in callbacks:
            setattr(cls, callback, _nothing)
            assert getattr(strategy, callback)(None) == "nothing"
    finally:
        for callback, method in saved.items():
            setattr(cls, callback, method)
    assert all(cls.__dict__[callback] is saved[callback] for callback in callbacks)



# the callback a shipped strategy's own code calls, to override in a subclass
INNER_CALL = {"oracle_dislocation": ("on_bbo", "on_book"), "maker": ("on_book", "evaluate")}


@pytest.mark.parametrize("name", sorted(INNER_CALL))
def test_an_operator_may_extend_a_compiled_strategy_in_python(name: str) -> None:
    # An interpreted subclass of a compiled strategy is built, and the compiled code calls
    # the subclass's override (mypyc's allow_interpreted_subclasses).
    outer, inner = INNER_CALL[name]
    base = find_strategy(name)
    calls: list[object] = []
    mine = type(f"My{base.__name__}", (base,), {
        "name": f"my_{name}", inner: lambda self, ctx: calls.append(ctx),
        "status": lambda self: {"mine": 1}})
    strategy = mine(base.Params())
    ctx = StrategyHarness(strategy, coin_info(), SimClock(1_785_000_000_000)).ctx
    getattr(strategy, outer)(ctx)
    assert calls == [ctx] and strategy.status() == {"mine": 1}
    assert type(strategy).__mro__[1] is base

def _nothing(*_args: object) -> str:
    return "nothing"


def _awaits_in_finally(source: str) -> list[str]:
    # `function:line` of each `try` in a coroutine whose `finally` awaits
    return [f"{fn.name}:{node.lineno}"
            for fn in ast.walk(ast.parse(source)) if isinstance(fn, ast.AsyncFunctionDef)
            for node in ast.walk(fn)
            if isinstance(node, ast.Try | ast.TryStar) and any(
                isinstance(inner, ast.Await | ast.AsyncWith | ast.AsyncFor)
                for part in node.finalbody for inner in ast.walk(part))]


def test_no_compiled_coroutine_awaits_in_a_finally() -> None:
    # Compiled by mypyc, an `await` inside `finally` leaves the exception the `finally`
    # ran for set as the thread's exception being handled once the coroutine has ended,
    # and every later exception in that thread chains onto it (a replay sweep's, a test
    # run's). Clean-up that awaits goes after an `except` that keeps the exception and
    # re-raises it (`ExecutorLoop.run`).
    sample = ("async def f():\n    try:\n        await g()\n"
              "    finally:\n        await h()\n")
    assert _awaits_in_finally(sample) == ["f:2"]  # the check finds what it looks for
    found = {name: where for name in _native.MODULES
             if (where := _awaits_in_finally(_native.source_path(name).read_text()))}
    assert found == {}

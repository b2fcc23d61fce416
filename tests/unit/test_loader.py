"""Strategy discovery: plugins/ packages, entry points of a (fake) installed distribution,
and the errors for missing or broken plugins and bad parameters."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from hip3term.errors import Hip3Error
from hip3term.strategy.loader import (
    PluginError,
    describe_params,
    discover,
    find_strategy,
    load_strategy,
    validate_params,
)
from plugins.maker import Maker
from plugins.oracle_dislocation import OracleDislocation, OracleDislocationParams

GOOD = '''
from pydantic import Field
from hip3term.strategy import Strategy, StrategyParams

class Params(StrategyParams):
    edge_bps: float = Field(1.5, ge=0, description="An edge.")

class {cls}(Strategy[Params]):
    name = "{name}"
    description = "A {name} strategy."
    Params = Params
'''


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def tmp_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path; modules imported from it are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith(("h3t_", "plugins.h3t_")):
            del sys.modules[name]


@pytest.fixture
def plugin_package(tmp_site: Path) -> str:
    """A plugin package `h3t_plugins` with good and broken plugins."""
    root = "h3t_plugins"
    write(tmp_site, f"{root}/__init__.py", "")
    write(tmp_site, f"{root}/alpha/__init__.py",
          "from h3t_plugins.alpha.strategy import Alpha\nSTRATEGY = Alpha\n")
    write(tmp_site, f"{root}/alpha/strategy.py", GOOD.format(cls="Alpha", name="alpha"))
    write(tmp_site, f"{root}/beta/__init__.py", "")  # no STRATEGY: found in strategy.py
    write(tmp_site, f"{root}/beta/strategy.py", GOOD.format(cls="Beta", name="beta"))
    write(tmp_site, f"{root}/broken/__init__.py", "import h3t_no_such_module\n")
    write(tmp_site, f"{root}/misnamed/__init__.py", "")
    write(tmp_site, f"{root}/misnamed/strategy.py", GOOD.format(cls="Other", name="other"))
    write(tmp_site, f"{root}/notaclass/__init__.py", "STRATEGY = 42\n")
    write(tmp_site, f"{root}/twoclasses/__init__.py", "")
    write(tmp_site, f"{root}/twoclasses/strategy.py",
          GOOD.format(cls="One", name="twoclasses") + GOOD.format(cls="Two", name="x"))
    write(tmp_site, f"{root}/not_a_package.py", "")  # a module, not a plugin
    return root


def fake_distribution(site: Path, entry_points: str, name: str = "h3t-fake") -> None:
    """An installed distribution (dist-info) whose entry points importlib.metadata reads."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


# -- the shipped plugins -------------------------------------------------------------------


def test_shipped_plugins_are_discovered_without_problems() -> None:
    catalog = discover(entry_points=False)
    assert catalog.problems == ()
    assert catalog.entries["oracle_dislocation"].strategy is OracleDislocation
    assert catalog.entries["maker"].strategy is Maker
    assert catalog.entries["maker"].origin == "plugins.maker"


def test_load_strategy_validates_params_into_a_frozen_model() -> None:
    strategy = load_strategy("oracle_dislocation", {"size_alpha": 0.1, "cooldown_s": 2})
    assert isinstance(strategy, OracleDislocation)
    assert strategy.params.size_alpha == Decimal("0.1")
    assert strategy.params.threshold_bps == 15.0  # default kept
    with pytest.raises(ValidationError):
        strategy.params.cooldown_s = 3.0  # type: ignore[misc]  # frozen on purpose


def test_defaults_described_with_types_and_bounds() -> None:
    params = {p.name: p for p in describe_params(OracleDislocation)}
    assert params["size_alpha"].default == "0.05"
    assert params["size_alpha"].type == "Decimal (> 0, <= 1)"
    assert params["cooldown_s"].type == "float >= 0"
    assert params["buffer_ticks"].default == "2"
    assert all(p.description for p in params.values())
    assert list(params) == list(OracleDislocationParams.model_fields)


@pytest.mark.parametrize(("params", "expected"), [
    ({"size_alpha": 2}, "strategy 'oracle_dislocation': strategy.params.size_alpha = 2: "
                        "must be less than or equal to 1"),
    ({"sizealpha": 0.1}, "strategy 'oracle_dislocation': strategy.params.sizealpha: unknown "
                         "parameter; allowed: threshold_bps, taker_fee_bps, size_alpha,"),
    ({"buffer_ticks": "two"}, "strategy.params.buffer_ticks = 'two': must be a valid integer"),
    ({"max_oracle_age_s": float("nan")}, "strategy.params.max_oracle_age_s = nan"),
])
def test_bad_params_name_the_strategy_and_field(params: dict[str, object],
                                                expected: str) -> None:
    with pytest.raises(PluginError) as caught:
        load_strategy("oracle_dislocation", params)
    assert expected in caught.value.message
    assert caught.value.exit_code == 2
    assert isinstance(caught.value, Hip3Error)


def test_several_bad_params_are_listed_together() -> None:
    with pytest.raises(PluginError) as caught:
        validate_params(Maker, {"half_spread_bps": -1, "refresh_s": 0, "fair": "oracle"})
    message = caught.value.message
    assert message.startswith("strategy 'maker': 3 bad parameters:")
    for field in ("half_spread_bps = -1", "refresh_s = 0", "fair = 'oracle'"):
        assert f"strategy.params.{field}" in message


def test_cross_field_rule_is_reported() -> None:
    with pytest.raises(PluginError, match="defensive_rv_10s_bps must not exceed"):
        validate_params(Maker, {"defensive_rv_10s_bps": 50, "max_rv_10s_bps": 40})


def test_missing_strategy_lists_the_available_ones() -> None:
    with pytest.raises(PluginError) as caught:
        find_strategy("oracle_dislocaton")
    assert "no strategy named 'oracle_dislocaton'; available: " in caught.value.message
    assert "maker, oracle_dislocation" in caught.value.message


# -- a plugin package with broken plugins --------------------------------------------------


def test_plugin_package_good_and_broken_plugins(plugin_package: str) -> None:
    catalog = discover(plugin_package, entry_points=False)
    entries = catalog.entries
    assert list(entries) == ["alpha", "beta", "broken", "misnamed", "notaclass", "twoclasses"]
    assert entries["alpha"].strategy is not None and entries["alpha"].error == ""
    assert entries["beta"].strategy is not None
    assert entries["beta"].description == "A beta strategy."
    assert [p.name for p in entries["beta"].params] == ["edge_bps"]
    assert "ModuleNotFoundError: No module named 'h3t_no_such_module'" in entries["broken"].error
    assert "has name 'other', expected 'misnamed'" in entries["misnamed"].error
    assert "42 is not a subclass of hip3term.strategy.Strategy" in entries["notaclass"].error
    assert "defines 2 Strategy subclasses" in entries["twoclasses"].error
    assert len(catalog.problems) == 4
    assert all(problem.startswith("strategy '") for problem in catalog.problems)


def test_loading_one_plugin_ignores_broken_neighbours(plugin_package: str) -> None:
    strategy = load_strategy("alpha", {"edge_bps": 3}, package=plugin_package)
    assert strategy.name == "alpha"
    with pytest.raises(PluginError, match=r"strategy 'broken' \(h3t_plugins.broken\) cannot "
                                          r"be loaded: ModuleNotFoundError"):
        find_strategy("broken", plugin_package)


def test_missing_package_means_no_plugins() -> None:
    catalog = discover("h3t_package_that_does_not_exist", entry_points=False)
    assert catalog.entries == {}


# -- entry points of an installed distribution ---------------------------------------------


def test_entry_points_of_an_installed_distribution(tmp_site: Path) -> None:
    write(tmp_site, "h3t_ep_mod.py", GOOD.format(cls="Gamma", name="gamma"))
    fake_distribution(tmp_site, """
        [hip3term.strategies]
        gamma = h3t_ep_mod:Gamma
        delta = h3t_ep_missing:Delta
        maker = h3t_ep_mod:Gamma
    """)
    catalog = discover()
    gamma = catalog.entries["gamma"]
    assert gamma.strategy is not None
    assert gamma.origin == "entry point gamma = h3t_ep_mod:Gamma (h3t-fake 1.0)"
    assert "No module named 'h3t_ep_missing'" in catalog.entries["delta"].error
    assert catalog.entries["maker"].strategy is Maker  # plugins/ wins a conflict
    assert any("strategy 'maker' is both plugins.maker and entry point maker" in p
               for p in catalog.problems)
    loaded = load_strategy("gamma", {"edge_bps": 0.5})
    assert type(loaded).__name__ == "Gamma"
    with pytest.raises(PluginError, match=re.escape("'gamma': strategy.params.edge_bps = -1")):
        load_strategy("gamma", {"edge_bps": -1})


# -- `hip3term plugins` ------------------------------------------------------------------------

# The command module registered on a root app the way hip3term.cli does, run in a fresh
# interpreter; hip3term's own errors are printed as `main()` prints them.
CLI = """
import sys, typer
from hip3term.cli import plugins_cmd
from hip3term.errors import Hip3Error
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
@app.callback()
def root() -> None: pass
plugins_cmd.register(app)
try:
    app(sys.argv[1:])
except Hip3Error as exc:
    print(f"hip3term: {exc.title}: {exc.message}", file=sys.stderr)
    sys.exit(exc.exit_code)
"""


def run_plugins(*args: str, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(extra_path),
                                                          env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", CLI, "plugins", *args], capture_output=True,
                          text=True, env=env, timeout=60, check=False,
                          cwd=Path(__file__).resolve().parents[2])


def test_cli_lists_strategies_with_params_types_defaults_and_descriptions() -> None:
    result = run_plugins()
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert out.index("maker  (plugins.maker)") < out.index(
        "oracle_dislocation  (plugins.oracle_dislocation)")
    assert OracleDislocation.description in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert rows["size_alpha"].split()[:5] == ["size_alpha", "Decimal", "(>", "0,", "<="]
    assert " 0.05 " in rows["size_alpha"]
    assert "Fraction of the size at the touch to take." in rows["size_alpha"]
    assert " microprice " in rows["fair"]


def test_cli_json_matches_the_parameter_models() -> None:
    result = run_plugins("--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["problems"] == []
    oracle = listing["strategies"]["oracle_dislocation"]
    assert oracle["origin"] == "plugins.oracle_dislocation"
    defaults = {p["name"]: p["default"] for p in oracle["params"]}
    assert defaults == {name: str(field.default) for name, field
                        in OracleDislocationParams.model_fields.items()}
    assert defaults["size_alpha"] == "0.05"
    assert defaults["cooldown_s"] == "5.0"


def test_cli_one_strategy_and_unknown_name() -> None:
    result = run_plugins("maker")
    assert result.returncode == 0, result.stderr
    assert "oracle_dislocation" not in result.stdout
    assert "max_inventory_notional" in result.stdout
    missing = run_plugins("makr")
    assert missing.returncode == 2
    assert missing.stderr.startswith("hip3term: plugin error: no strategy named 'makr'; "
                                     "available: maker, oracle_dislocation")


def test_cli_reports_a_broken_entry_point_and_still_lists_the_rest(tmp_path: Path) -> None:
    fake_distribution(tmp_path, """
        [hip3term.strategies]
        delta = h3t_ep_missing:Delta
    """)
    result = run_plugins(extra_path=tmp_path)
    assert result.returncode == 1
    assert "maker  (plugins.maker)" in result.stdout
    assert "delta  (entry point delta = h3t_ep_missing:Delta (h3t-fake 1.0))" in result.stdout
    assert ("hip3term: plugin error: strategy 'delta' (entry point delta = "
            "h3t_ep_missing:Delta (h3t-fake 1.0)) cannot be loaded: ModuleNotFoundError"
            ) in result.stderr

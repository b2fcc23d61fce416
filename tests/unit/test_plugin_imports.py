"""The import contract: plugins and the strategy layer see only the strategy surface.

Checked twice: statically, over the AST of every module under `plugins/` and
`hip3term/strategy/` (every import, including those under TYPE_CHECKING), and at run time,
by importing them in a fresh interpreter and listing `sys.modules`.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hip3term.strategy.context import MIN_ORDER_NOTIONAL
from hip3term.venue.hyperliquid import markets

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = (
    "hip3term.execution", "hip3term.risk", "hip3term.feeds", "hip3term.venue",
    "hip3term.runtime", "hip3term.persistence", "hip3term.recording", "hip3term.tui",
    "hip3term.positions", "hip3term.cli", "websockets", "asyncio", "textual", "rich",
    "sqlalchemy", "aiosqlite",
)


def modules_under(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Every module an import statement of `source` names (relative ones resolved)."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def violations(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN))


def test_ast_check_detects_forbidden_imports() -> None:
    source = ("import asyncio\nfrom hip3term.execution.orders import OrderRequest\n"
              "from ..venue import sim\nfrom hip3term.book import MarketState\n")
    found = violations(imported_names(source, "hip3term.strategy.x", False))
    assert found == ["asyncio", "hip3term.execution.orders",
                     "hip3term.execution.orders.OrderRequest", "hip3term.venue",
                     "hip3term.venue.sim"]


@pytest.mark.parametrize("path", modules_under("plugins", "hip3term/strategy"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_module_imports_only_the_strategy_surface(path: Path) -> None:
    names = imported_names(path.read_text(), module_name(path), path.name == "__init__.py")
    assert violations(names) == []


def test_every_shipped_plugin_is_checked() -> None:
    checked = {module_name(p) for p in modules_under("plugins")}
    assert {"plugins.oracle_dislocation.strategy", "plugins.maker.strategy"} <= checked


def test_importing_strategies_loads_no_engine_io_or_venue_module() -> None:
    script = (
        "import json, sys\n"
        "import hip3term.strategy, hip3term.strategy.loader, hip3term.strategy.harness\n"
        "import hip3term.strategy.metrics, plugins.oracle_dislocation, plugins.maker\n"
        "from hip3term.strategy.loader import discover\n"
        "assert not discover(entry_points=False).problems\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert "plugins.maker.strategy" in loaded  # the check ran on the real plugins
    assert violations(loaded) == []


def test_strategy_minimum_matches_the_exchange_rule() -> None:
    assert MIN_ORDER_NOTIONAL == markets.MIN_ORDER_NOTIONAL

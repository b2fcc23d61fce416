"""Risk: gates, READY-TRADING, hard-stop latch (pure); imports core, positions, execution."""

from hip3term.risk.gates import ActionBudget, GateKeeper
from hip3term.risk.latch import HardStopLatch, RejectCounter, RiskInputs, RiskMonitor
from hip3term.risk.ready import ReadyFlags, TradingReadyChecker

__all__ = [
    "ActionBudget",
    "GateKeeper",
    "HardStopLatch",
    "ReadyFlags",
    "RejectCounter",
    "RiskInputs",
    "RiskMonitor",
    "TradingReadyChecker",
]

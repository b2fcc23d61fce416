"""Oracle-dislocation IOC taker (imports hip3term.strategy, core and book only)."""

from plugins.oracle_dislocation.strategy import OracleDislocation, OracleDislocationParams

STRATEGY = OracleDislocation

__all__ = ["STRATEGY", "OracleDislocation", "OracleDislocationParams"]

"""Strategy plugins shipped with hip3term (one package per strategy)."""

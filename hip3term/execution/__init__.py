"""Execution: order vocabulary, batch scheduler, flattener (pure, synchronous).

May import core, config, positions. `execution.orders` imports only core and is shared by
positions and risk; this package imports nothing eagerly so that sharing stays cycle-free.
"""

"""Pure core: standard library only, no asyncio, no I/O."""

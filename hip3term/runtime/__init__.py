"""Runtime: wiring of feeds, engine, recorder and journal into one process (asyncio)."""

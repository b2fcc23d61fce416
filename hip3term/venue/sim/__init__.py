"""The embedded exchange simulator (matching engine, market drivers, loopback server)."""

"""The SQLite journal: typed models, the engine and the single writer (may import core).

Only this package imports sqlalchemy.
"""

"""`hip3term keys` (placeholder until its module is written)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the root app (nothing yet)."""

"""`hip3term run`: the workstation (engine + TUI, or headless)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `run` command to the root app."""

    @app.command(help="Run the workstation on a market (TUI by default; --headless for logs).")
    def run(
        market: str = typer.Option("COIN", "--market", help="Coin on the dex, e.g. COIN."),
    ) -> None:
        typer.echo(
            f"hip3term run --market {market}: the trading workstation (engine, strategies, "
            "TUI) is not built yet.\n"
            "Available now: `hip3term config check`, `hip3term sign`, `hip3term keys`, "
            "`hip3term sim`.",
        )

"""The mainnet live confirmation: the operator types a word before the node starts.

Shown by `run_tui(..., confirm_mainnet=True)` before the engine thread is started: no
connection is opened and no order can be sent until the exact word is typed and Enter
pressed. Escape declines (the TUI exits and nothing ran).
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Static

__all__ = ["CONFIRM_WORD", "MainnetConfirmScreen"]

CONFIRM_WORD = "MAINNET"


class MainnetConfirmScreen(Screen[bool]):
    """Typed confirmation; dismissed with True once `word` is typed exactly."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "decline", "decline", id="mainnet.decline"),
    ]

    def __init__(self, summary: str, *, word: str = CONFIRM_WORD) -> None:
        super().__init__(classes="mainnet")
        self.summary = summary
        self.word = word

    def compose(self) -> ComposeResult:
        """Warning, summary, the input and the outcome line."""
        with Vertical(id="mainnet-box"):
            yield Static("MAINNET LIVE: real orders with real money", id="mainnet-title")
            yield Static(self.summary, id="mainnet-summary")
            yield Static(f"Type {self.word} and press Enter to start trading; Escape quits "
                         "without connecting.", id="mainnet-help")  # fmt: skip
            yield Input(placeholder=self.word, id="mainnet-input")
            yield Static("", id="mainnet-error")

    def on_mount(self) -> None:
        """Focus the input."""
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.word:
            self.dismiss(True)
            return
        self.query_one("#mainnet-error", Static).update(
            f"That is not {self.word}: nothing was started. Type it exactly, or Escape.")
        event.input.value = ""

    def action_decline(self) -> None:
        """Quit without starting."""
        self.dismiss(False)

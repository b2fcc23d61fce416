"""Modal confirmations: yes/no (`ConfirmScreen`) and a one-button alert (`AlertScreen`).

Keys: `y` confirms, `n` or Escape declines; Enter presses the focused button, which is
"Cancel" when the dialog opens (an Enter typed by habit never confirms). The main screen
stays visible behind the modal, status bar included (MAINNET LIVE never hides).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

__all__ = ["AlertScreen", "ConfirmScreen"]


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; dismissed with True (confirm) or False."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "confirm", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "cancel", id="confirm.no"),
    ]

    def __init__(self, title: str, body: str | Text, *, confirm_label: str = "Confirm (y)",
                 danger: bool = True) -> None:  # fmt: skip
        super().__init__(classes="confirm")
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label
        self.danger = danger

    def compose(self) -> ComposeResult:
        """The dialog: title, body, two buttons."""
        with Vertical(id="dialog"):
            yield Static(self.title_text, id="dialog-title")
            yield Static(self.body, id="dialog-body")
            with Horizontal(id="dialog-buttons"):
                yield Button(self.confirm_label, id="yes",
                             variant="error" if self.danger else "primary")  # fmt: skip
                yield Button("Cancel (n)", id="no", variant="default")

    def on_mount(self) -> None:
        """Focus "Cancel": an Enter typed by habit must not confirm by accident."""
        self.query_one("#no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        """Close with the answer."""
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class AlertScreen(ModalScreen[None]):
    """Tell the operator something that ends the session; any of Enter/Escape/q closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,escape,q", "close", "close", id="alert.close"),
    ]

    def __init__(self, title: str, body: str | Text) -> None:
        super().__init__(classes="alert")
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        """The dialog: title, body, one button."""
        with Vertical(id="dialog"):
            yield Static(self.title_text, id="dialog-title")
            yield Static(self.body, id="dialog-body")
            with Horizontal(id="dialog-buttons"):
                yield Button("Exit (Enter)", id="close", variant="error")

    def action_close(self) -> None:
        """Close the alert."""
        self.dismiss(None)

    @on(Button.Pressed, "#close")
    def _pressed(self) -> None:
        self.dismiss(None)

"""The operator's keys: one `Binding` per action, each with an id the config can remap.

The ids are the config's (`[tui.bindings]` in the TOML: `halt = "h"`, `flatten = "f"`,
`cancel_all = "c"`, `pause = "p"`, `resume = "r"`, `quit = "q"`, `help = "question_mark"`);
`keymap()` turns the config's table into Textual's keymap (binding id -> key), which the
app installs with `App.set_keymap`, so a remapped key changes the footer and the help
screen too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual.binding import Binding

from hip3term.config.models import DEFAULT_BINDINGS
from hip3term.errors import ConfigError

__all__ = ["KEYS", "KeySpec", "app_bindings", "key_label", "keymap"]


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One operator key: binding id, action, footer label and the help screen's text."""

    id: str
    action: str
    label: str
    help: str


KEYS: tuple[KeySpec, ...] = (
    KeySpec("halt", "halt", "HALT",
            "Trip the hard-stop latch now: no new orders, cancel every open order, flatten "
            "every position (per config), then hold until you resume. No confirmation: "
            "this is the emergency key."),
    KeySpec("flatten", "flatten", "flatten",
            "Close every position with reduce-only IOC orders (after a confirmation). "
            "This also halts: open orders are canceled and no new orders go out."),
    KeySpec("cancel_all", "cancel_all", "cancel all",
            "Cancel every open order on the exchange and hold new orders (hard halt). "
            "Positions stay open."),
    KeySpec("pause", "pause", "pause",
            "Pause the strategy (soft halt: no new orders, resting orders stay); press "
            "again to unpause. A halted or tripped latch needs the resume key instead."),
    KeySpec("resume", "resume", "resume",
            "After a halt or a trip: shows why the latch tripped and, once you confirm, "
            "lets the strategy trade again. Every resume is journaled."),
    KeySpec("quit", "quit", "quit",
            "Quit (after a confirmation). The node cancels every open order first when "
            "the config says so (risk.cancel_all_on_quit), then stops and the TUI exits."),
    KeySpec("help", "help", "help", "This screen. Escape or the help key closes it."),
)  # fmt: skip

_BY_ID = {spec.id: spec for spec in KEYS}
_DISPLAY = {"question_mark": "?", "escape": "esc", "space": "space"}


def app_bindings() -> list[Binding]:
    """The app's bindings with their default keys (the keymap overrides them)."""
    return [
        Binding(DEFAULT_BINDINGS[spec.id], spec.action, spec.label,  # type: ignore[index]  # reason: KeySpec ids are the config's BindingId literals
                id=spec.id, tooltip=spec.help, priority=spec.id == "halt")
        for spec in KEYS
    ]  # fmt: skip


def keymap(config: Mapping[str, str] | None = None) -> dict[str, str]:
    """Binding id -> key: the defaults overridden by the config's `[tui.bindings]`.

    Raises:
        ConfigError: an unknown binding id, or two bindings on one key.
    """
    merged: dict[str, str] = {str(k): v for k, v in DEFAULT_BINDINGS.items()}
    for binding_id, key in (config or {}).items():
        if binding_id not in _BY_ID:
            known = ", ".join(_BY_ID)
            raise ConfigError(f"tui.bindings: unknown binding {binding_id!r} (known: {known})")
        merged[binding_id] = key
    owners: dict[str, str] = {}
    for binding_id, key in merged.items():
        if key in owners:
            raise ConfigError(f"tui.bindings: {owners[key]} and {binding_id} are both {key!r}")
        owners[key] = binding_id
    return merged


def key_label(keys: Mapping[str, str], binding_id: str) -> str:
    """How a key is written on screen (`?` for `question_mark`)."""
    key = keys.get(binding_id, DEFAULT_BINDINGS.get(binding_id, "?"))  # type: ignore[call-overload]  # reason: a plain str id is looked up in the Literal-keyed defaults
    return _DISPLAY.get(key, key)

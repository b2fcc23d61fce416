"""The workstation TUI (Textual); it may import textual, rich and runtime; nothing imports it."""

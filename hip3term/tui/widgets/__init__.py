"""Panes of the main screen; each draws one slice of a `NodeSnapshot`."""

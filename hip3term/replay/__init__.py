"""Replay: a recording re-run through the engine, executor and strategy in virtual time,
and session reports; may import runtime and everything below it (never tui, rich only in
`render`)."""

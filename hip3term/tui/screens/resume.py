"""The resume modal: why the latch tripped, when, and what resuming does; then confirm."""

from __future__ import annotations

from rich.text import Text

from hip3term.runtime.snapshot import LatchStatus
from hip3term.tui import palette as pal
from hip3term.tui.screens.confirm import ConfirmScreen

__all__ = ["ResumeScreen", "resume_body"]


def resume_body(latch: LatchStatus) -> Text:
    """The modal's text: state, trigger, detail, time, earlier resumes, consequences."""
    when = f"{pal.fmt_clock(latch.tripped_ms)} UTC" if latch.tripped_ms else "—"
    lines = [
        Text.assemble(("state    ", pal.LABEL), (latch.state.value.upper(), pal.BAD)),
        Text.assemble(("trigger  ", pal.LABEL),
                      (str(latch.trigger) if latch.trigger else "operator", pal.VALUE)),
        Text.assemble(("reason   ", pal.LABEL), (latch.detail or "—", pal.WARN)),
        Text.assemble(("since    ", pal.LABEL), (when, pal.VALUE)),
        Text.assemble(("resumed  ", pal.LABEL), (f"{latch.resumes} time(s) this session",
                                                pal.VALUE)),
        Text(""),
        Text("Resuming lets the strategy send new orders again. The cause above is not "
             "cleared by resuming: if it persists, the latch trips again. The resume is "
             "journaled with your name and the time.", pal.VALUE),
    ]  # fmt: skip
    return Text("\n").join(lines)


class ResumeScreen(ConfirmScreen):
    """Confirm a resume after reading the trip reason; dismissed with True to resume."""

    def __init__(self, latch: LatchStatus) -> None:
        super().__init__(f"Resume trading? The latch is {latch.state.value.upper()}",
                         resume_body(latch), confirm_label="Resume (y)", danger=False)  # fmt: skip
        self.latch = latch

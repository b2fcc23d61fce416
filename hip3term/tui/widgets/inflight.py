"""The executor: queue depths, posts in flight against the limit, pending posts, acks/rejects.

Line 1: the three queues in priority order (cancel > reduce-only > new) and held orders.
Line 2: in flight n/limit with a bar (amber from the high-water mark, where new orders
are held back; red at the limit, where nothing is sent) and the send counters. Then one
row per pending post (client id, kind, age, nonce, items) and the latest order outcomes
from the event log (fills, acks, rejects, denials, failures).
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from hip3term.runtime.snapshot import EventLine, ExecutorSnapshot, NodeSnapshot
from hip3term.tui import palette as pal
from hip3term.tui.widgets.lines import LinePane

__all__ = ["ORDER_EVENT_WORDS", "InflightPane", "inflight_rows"]

ORDER_EVENT_WORDS = ("order", "fill", "reject", "ack", "cancel", "denied", "resting")
"""An event-log line whose kind holds one of these words is an order outcome."""

_BAR_W = 10


def _load_style(ex: ExecutorSnapshot) -> Style:
    if ex.in_flight >= ex.limit:
        return pal.BAD
    return pal.WARN if ex.in_flight >= ex.high_water else pal.OK


def _queues(ex: ExecutorSnapshot) -> Text:
    return pal.join([
        Text("queues", pal.HEADER), pal.pair("cancel", str(ex.cancels)),
        pal.pair("reduce", str(ex.reduce_only)), pal.pair("new", str(ex.new)),
        pal.pair("held", str(ex.held)),
        Text(ex.level, pal.DIM if ex.level == "normal" else pal.WARN),
    ])  # fmt: skip


def _load(ex: ExecutorSnapshot) -> Text:
    filled = 0 if ex.limit <= 0 else min(_BAR_W, round(ex.in_flight / ex.limit * _BAR_W))
    style = _load_style(ex)
    return Text.assemble(
        ("in flight ", pal.HEADER), (f"{ex.in_flight}/{ex.limit} ", style),
        ("█" * filled, style), ("░" * (_BAR_W - filled), pal.DIM), ("  ", pal.DIM),
        pal.join([pal.pair("sent", str(ex.sent)),
                pal.pair("t/o", str(ex.timeouts), pal.WARN if ex.timeouts else pal.VALUE),
                pal.pair("fail", str(ex.send_failures),
                       pal.WARN if ex.send_failures else pal.VALUE)]),
    )  # fmt: skip


def _outcome(line: EventLine) -> Text:
    kind = line.kind.lower()
    if "reject" in kind or "fail" in kind or line.severity != "info":
        style = pal.BAD if line.severity == "alert" else pal.WARN
    elif "denied" in kind:
        style = pal.DIM
    else:
        style = pal.OK
    return Text.assemble((f"{pal.fmt_clock(line.time_ms)} ", pal.DIM), (f"{line.kind} ", style),
                         (line.text, pal.VALUE))  # fmt: skip


def order_events(events: tuple[EventLine, ...]) -> list[EventLine]:
    """The order outcomes among `events`, oldest first."""
    return [line for line in events if any(w in line.kind.lower() for w in ORDER_EVENT_WORDS)]


def inflight_rows(snapshot: NodeSnapshot, height: int) -> list[Text]:
    """The pane's rows for `height` rows: queues, load, posts, then recent outcomes."""
    ex = snapshot.executor
    rows = [_queues(ex), _load(ex)]
    if snapshot.observe:
        rows.append(Text("observe mode: nothing is sent", pal.DIM))
    posts = sorted(ex.pending_posts, key=lambda post: -post.age_ms)
    if posts:
        rows.append(Text(f"{'post':>7} {'kind':<8} {'age':>8} {'nonce':>14} items", pal.HEADER))
    room = max(height - len(rows), 0)
    outcomes = order_events(snapshot.events)
    post_room = room - min(len(outcomes), max(room // 2, 2)) - 1 if outcomes else room
    for post in posts[:max(post_room, 1)]:
        nonce = "—" if post.nonce is None else str(post.nonce)
        rows.append(Text(f"{post.post_id:>7} {post.kind:<8} {post.age_ms:>6.0f}ms "
                         f"{nonce:>14} {post.items:>5}", pal.VALUE))  # fmt: skip
    left = height - len(rows)
    if outcomes and left > 1:
        rows.append(Text("recent acks and rejects", pal.HEADER))
        rows += [_outcome(line) for line in outcomes[-(left - 1):]]
    return rows[:max(height, 1)]


class InflightPane(LinePane):
    """The executor's queues and posts (see the module docstring)."""

    def show(self, snapshot: NodeSnapshot) -> None:
        """Redraw when the executor or the order outcomes changed."""
        ex = snapshot.executor
        key = (ex, tuple(order_events(snapshot.events)[-12:]), snapshot.observe, self.size.height)
        if self.changed(key):
            self.set_rows(inflight_rows(snapshot, self.size.height))

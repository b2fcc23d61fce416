"""The workstation's colours, one meaning each, and the number formats every pane shares.

Green is always buy / long / profit / healthy; red is always sell / short / loss / danger;
amber is a warning or a soft halt; violet is the oracle, blue the mark; bold yellow marks
the operator's own orders. Panes take their styles from here so a colour never means two
things on one screen.
"""

from __future__ import annotations

import time
from decimal import ROUND_HALF_UP, Decimal

from rich.style import Style
from rich.text import Text

BUY = Style(color="#4ec96b")
SELL = Style(color="#f0605d")
BUY_BAR = Style(color="#2f7a43")
SELL_BAR = Style(color="#8f3a38")
PROFIT = BUY
LOSS = SELL
OK = Style(color="#4ec96b")
BAD = Style(color="#f0605d", bold=True)
WARN = Style(color="#e5b567")
DIM = Style(color="#7d8590")
LABEL = Style(color="#9da5b4")
VALUE = Style(color="#e6e6e6")
ORACLE = Style(color="#c792ea", bold=True)
MARK = Style(color="#6cb6ff", bold=True)
OWN = Style(color="#ffd75f", bold=True)
ALERT = Style(color="#ffffff", bgcolor="#b71c1c", bold=True)
HEADER = Style(color="#9da5b4", bold=True)

BADGE_SIM = Style(color="#0b0b0b", bgcolor="#5fd7d7", bold=True)
BADGE_TESTNET = Style(color="#0b0b0b", bgcolor="#e5b567", bold=True)
BADGE_MAINNET_LIVE = Style(color="#ffffff", bgcolor="#c62828", bold=True)
BADGE_OBSERVE = Style(color="#0b0b0b", bgcolor="#6cb6ff", bold=True)

_DASH = "—"


def signed_style(value: Decimal | float | None) -> Style:
    """PROFIT for > 0, LOSS for < 0, VALUE for zero, DIM when unknown."""
    if value is None:
        return DIM
    if value > 0:
        return PROFIT
    if value < 0:
        return LOSS
    return VALUE


def side_style(side: str) -> Style:
    """BUY for "B"/"buy"/"long", SELL for anything else."""
    return BUY if side.lower() in ("b", "buy", "bid", "long") else SELL


def fmt_num(value: Decimal | None) -> str:
    """A price or size exactly as the engine holds it (no exponent), "—" when unknown."""
    if value is None:
        return _DASH
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:f}"


def fmt_usd(value: Decimal | None, *, sign: bool = True) -> str:
    """Dollars to the cent, signed (`+1.25`, `-0.40`), "—" when unknown."""
    if value is None:
        return _DASH
    cents = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if cents == 0:
        cents = abs(cents)  # never "-0.00"
    return f"{cents:+,.2f}" if sign else f"{cents:,.2f}"


def fmt_bps(value: float | None, *, digits: int = 1) -> str:
    """bps signed with `digits` decimals (`+3.1`), "—" when unknown."""
    if value is None:
        return _DASH
    text = f"{value:+.{digits}f}"
    return text.replace("-0." + "0" * digits, "+0." + "0" * digits)


def fmt_age(seconds: float | None) -> str:
    """An age or countdown: `0.4s`, `12.3s`, `4m05s`, `2h03m`; "—" when unknown."""
    if seconds is None:
        return _DASH
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 60:
        return f"{sign}{s:.1f}s"
    if s < 3600:
        return f"{sign}{int(s // 60)}m{int(s % 60):02d}s"
    return f"{sign}{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def fmt_clock(time_ms: int | None, *, millis: bool = False) -> str:
    """Unix ms as UTC `HH:MM:SS` (`.mmm` with `millis`), "—" when unknown."""
    if time_ms is None:
        return _DASH
    clock = time.strftime("%H:%M:%S", time.gmtime(time_ms / 1000))
    return f"{clock}.{time_ms % 1000:03d}" if millis else clock


def fmt_pct(value: float | None) -> str:
    """A share in [0, 1] as a percentage (`93%`), "—" when unknown."""
    return _DASH if value is None else f"{value * 100:.0f}%"


def pair(label: str, value: str, style: Style = VALUE) -> Text:
    """`label value` with the label dimmed: the building block of every info line."""
    return Text.assemble((label + " ", LABEL), (value, style))


def join(parts: list[Text], sep: str = "  ") -> Text:
    """Join texts with a plain separator."""
    return Text(sep).join(parts)


def flow(parts: list[Text], width: int, sep: str = "  ") -> list[Text]:
    """`parts` joined with `sep` on as few lines as fit in `width` cells, a part never
    split across lines (one wider than `width` stands alone and is cropped where shown)."""
    lines: list[Text] = []
    line: Text | None = None
    for part in parts:
        if line is not None and line.cell_len + len(sep) + part.cell_len <= width:
            line = line + Text(sep) + part
            lines[-1] = line
        else:
            line = part.copy()
            lines.append(line)
    return lines

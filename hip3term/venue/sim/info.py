"""Info requests of the simulator (`post` with `type: "info"`), answered synchronously.

The response is `{"type":"info","payload":{"type":<request type>,"data":<what /info
returns>}}`. A request that does not deserialize (unknown type, missing or mistyped
field) gets `{"type":"error","payload":"Failed to deserialize the JSON body into the
target type: …"}`, the text of the exchange's HTTP 422 answer.

Supported: `meta`, `metaAndAssetCtxs`, `perpDexs`, `allMids`, `l2Book`,
`clearinghouseState`, `openOrders`, `frontendOpenOrders`, `orderStatus` (by oid or
cloid), `userFills`, `userFillsByTime`, `userRateLimit`, and `spotMeta` (empty: there is
no spot market). Dex-keyed requests follow the exchange: without `"dex":"xyz"` a request
is about the first (validator) dex, which the simulator leaves empty, so `allMids`,
`openOrders` and `meta` without the dex return no `xyz` data. The simulator keeps one
USDC balance per account, so `clearinghouseState` shows it whatever the dex.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hip3term.venue.sim.payloads import aggregate_fills
from hip3term.venue.sim.records import OrderView

if TYPE_CHECKING:
    from hip3term.venue.sim.exchange import SimExchange

DESERIALIZE = "Failed to deserialize the JSON body into the target type: "
MAX_FILLS = 2000
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_CLOID = re.compile(r"0x[0-9a-fA-F]{32}")
_EMPTY_META: dict[str, Any] = {"universe": [], "marginTables": [], "collateralToken": 0}


class InfoError(ValueError):
    """The request does not deserialize; the message is the error payload."""


def respond(ex: SimExchange, payload: dict[str, Any]) -> dict[str, Any]:
    """The `response` object of one info post."""
    kind = payload.get("type")
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        return {"type": "error", "payload": f"{DESERIALIZE}unknown variant `{kind}`"}
    try:
        data = handler(ex, payload)
    except InfoError as exc:
        return {"type": "error", "payload": DESERIALIZE + str(exc)}
    return {"type": "info", "payload": {"type": kind, "data": data}}


# --- field readers --------------------------------------------------------------------------


def _user(payload: dict[str, Any]) -> str:
    value = payload.get("user")
    if value is None:
        raise InfoError("missing field `user`")
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise InfoError(f"user: invalid address {value!r}")
    return value.lower()


def _dex(payload: dict[str, Any]) -> str:
    value = payload.get("dex")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InfoError("dex: invalid type, expected a string")
    return value


def _int(payload: dict[str, Any], key: str, *, required: bool) -> int | None:
    value = payload.get(key)
    if value is None:
        if required:
            raise InfoError(f"missing field `{key}`")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InfoError(f"{key}: invalid type, expected an unsigned integer")
    return value


def _flag(payload: dict[str, Any], key: str) -> bool:
    value = payload.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InfoError(f"{key}: invalid type, expected a boolean")
    return value


def _known_dex(ex: SimExchange, dex: str) -> None:
    names = {entry["name"] for entry in ex.perp_dexs[1:] if isinstance(entry, dict)}
    if dex and dex not in names:
        raise InfoError(f"dex: unknown perp dex {dex!r}")


# --- handlers ---------------------------------------------------------------------------------


def _meta(ex: SimExchange, payload: dict[str, Any]) -> Any:
    dex = _dex(payload)
    _known_dex(ex, dex)
    return ex.meta if dex == "xyz" else _EMPTY_META


def _meta_and_ctxs(ex: SimExchange, payload: dict[str, Any]) -> Any:
    dex = _dex(payload)
    _known_dex(ex, dex)
    if dex != "xyz":
        return [_EMPTY_META, []]
    return [ex.meta, ex.asset_ctxs()]


def _perp_dexs(ex: SimExchange, payload: dict[str, Any]) -> Any:
    return ex.perp_dexs


def _all_mids(ex: SimExchange, payload: dict[str, Any]) -> Any:
    return ex.all_mids(_dex(payload) or None)


def _l2_book(ex: SimExchange, payload: dict[str, Any]) -> Any:
    coin = payload.get("coin")
    if not isinstance(coin, str):
        raise InfoError("missing field `coin`" if coin is None else "coin: expected a string")
    sig_figs = _int(payload, "nSigFigs", required=False)
    mantissa = _int(payload, "mantissa", required=False)
    if sig_figs is not None and sig_figs not in (2, 3, 4, 5):
        raise InfoError("nSigFigs: must be 2, 3, 4 or 5")
    if mantissa is not None and (sig_figs != 5 or mantissa not in (1, 2, 5)):
        raise InfoError("mantissa: only 1, 2 or 5, and only with nSigFigs 5")
    return ex.l2_book(coin, sig_figs, mantissa, 20)


def _clearinghouse(ex: SimExchange, payload: dict[str, Any]) -> Any:
    user, dex = _user(payload), _dex(payload)
    _known_dex(ex, dex)
    return ex.engine.clearinghouse_state(user, dex, ex.marks())


def open_order_wire(order: OrderView) -> dict[str, Any]:
    """One element of the `openOrders` response (the real key order)."""
    wire = order.wire()
    out: dict[str, Any] = {
        "coin": wire["coin"], "limitPx": wire["limitPx"], "oid": wire["oid"],
        "side": wire["side"], "sz": wire["sz"], "timestamp": wire["timestamp"],
        "origSz": wire["origSz"],
    }  # fmt: skip
    if order.cloid is not None:
        out["cloid"] = order.cloid
    return out


def _open_orders(ex: SimExchange, payload: dict[str, Any]) -> Any:
    user, dex = _user(payload), _dex(payload)
    _known_dex(ex, dex)
    return [open_order_wire(order) for order in ex.engine.open_orders(user, dex)]


def _frontend_open_orders(ex: SimExchange, payload: dict[str, Any]) -> Any:
    user, dex = _user(payload), _dex(payload)
    _known_dex(ex, dex)
    return [order.frontend_wire() for order in ex.engine.open_orders(user, dex)]


def _order_status(ex: SimExchange, payload: dict[str, Any]) -> Any:
    user = _user(payload)
    oid = payload.get("oid")
    if isinstance(oid, str) and _CLOID.fullmatch(oid):
        event = ex.engine.order_status(user, cloid=oid.lower())
    elif isinstance(oid, int) and not isinstance(oid, bool) and oid >= 0:
        event = ex.engine.order_status(user, oid=oid)
    elif oid is None:
        raise InfoError("missing field `oid`")
    else:
        raise InfoError("oid: expected an order id or a 0x cloid of 32 hex digits")
    if event is None:
        return {"status": "unknownOid"}
    return {"status": "order", "order": event.status_wire()}


def _user_fills(ex: SimExchange, payload: dict[str, Any]) -> Any:
    return ex.user_fills(_user(payload), _flag(payload, "aggregateByTime"), MAX_FILLS)


def _user_fills_by_time(ex: SimExchange, payload: dict[str, Any]) -> Any:
    user = _user(payload)
    start = _int(payload, "startTime", required=True)
    end = _int(payload, "endTime", required=False)
    fills = [
        fill
        for fill in ex.engine.user_fills(user)
        if start is not None and fill.time >= start and (end is None or fill.time <= end)
    ]
    if _flag(payload, "aggregateByTime"):
        fills = aggregate_fills(fills)
    return [fill.wire() for fill in fills[:MAX_FILLS]]


def _user_rate_limit(ex: SimExchange, payload: dict[str, Any]) -> Any:
    return ex.accounts.rate_limit_info(_user(payload))


def _spot_meta(ex: SimExchange, payload: dict[str, Any]) -> Any:
    return {"universe": [], "tokens": []}


_HANDLERS: dict[str, Callable[[SimExchange, dict[str, Any]], Any]] = {
    "meta": _meta,
    "metaAndAssetCtxs": _meta_and_ctxs,
    "perpDexs": _perp_dexs,
    "allMids": _all_mids,
    "l2Book": _l2_book,
    "clearinghouseState": _clearinghouse,
    "openOrders": _open_orders,
    "frontendOpenOrders": _frontend_open_orders,
    "orderStatus": _order_status,
    "userFills": _user_fills,
    "userFillsByTime": _user_fills_by_time,
    "userRateLimit": _user_rate_limit,
    "spotMeta": _spot_meta,
}

"""Signed actions of the simulator (`post` with `type: "action"`), checked as the exchange does.

The payload is the `/exchange` body `{action, nonce, signature, vaultAddress,
expiresAfter}`. The checks, in order (the first failure decides):

1. the body and the action deserialize (else `{"type":"error","payload":"Failed to
   deserialize the JSON body into the target type: …"}`);
2. the signer is recovered from the signature: for L1 actions the phantom agent with
   source "a" (mainnet; "b" when the simulator runs as testnet) over msgpack(action) ‖
   nonce ‖ vault ‖ expiresAfter; for `approveAgent` the EIP-712 user-signed struct. The
   signer must be a funded account or an agent that a funded account approved, else
   `User or API Wallet 0x<recovered> does not exist.` (an `approveAgent` must be signed
   by the account itself: `Must deposit before performing actions. User: 0x…`);
3. `vaultAddress`: the simulator has no vaults or sub-accounts, so any non-null vault is
   refused: `Vault not registered: 0x…` (the signature covers it, so the signer check
   above already used it);
4. `expiresAfter`: refused when the exchange time is past it, costing 5 times the
   action's request weight: `Action expired: expiresAfter E is earlier than the exchange
   time T.` (simulator wording);
5. the nonce rule of the signer (`hip3term.venue.sim.nonces`);
6. the account's address rate budget (`hip3term.venue.sim.accounts`); the nonce is used
   and the budget spent only when the action is accepted.

Actions: `order` (limit orders `Alo`/`Ioc`/`Gtc`, reduce-only, cloid; trigger orders get
the per-order error `Trigger orders are not simulated.`; a price or size that is not a
canonical decimal string gets the tick error `Price must be divisible by tick size.` or
`Order has invalid size.`), `cancel`, `cancelByCloid`, `scheduleCancel`,
`updateLeverage`, `updateIsolatedMargin`, `noop` and `approveAgent`. Other action types
get `Action type T is not supported by the simulator.`

`scheduleCancel` follows the exchange: it needs $1,000,000 of traded volume (`Cannot set
scheduled cancel time until enough volume traded. Required: $1000000. Traded: $X.`,
setting and clearing alike); the time must be at least 5 s ahead (`Scheduled cancel time
too early, must be at least 5 seconds from now.`) and at most 10 triggers a UTC day are
allowed (`Too many scheduled cancel triggers today.`). When the time comes every open
order of the account is canceled (orderUpdates status `scheduledCancel`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hip3term.core.numeric import parse_decimal, to_wire
from hip3term.errors import MarketError, SigningError
from hip3term.venue.hyperliquid.signing import recover_signer
from hip3term.venue.hyperliquid.user_signing import recover_approve_agent
from hip3term.venue.sim.faults import REJECT_STORM_ERROR
from hip3term.venue.sim.info import DESERIALIZE
from hip3term.venue.sim.pushes import Push
from hip3term.venue.sim.records import INVALID_SIZE, TICK_REJECT, Tif

if TYPE_CHECKING:
    from hip3term.venue.sim.exchange import SimExchange

Response = tuple[dict[str, Any], list[Push]]
StormCheck = Callable[[], bool] | None
_Run = Callable[["SimExchange", str, StormCheck], Response]

SCHEDULE_VOLUME = Decimal(1_000_000)
SCHEDULE_MIN_AHEAD_MS = 5_000
SCHEDULE_TRIGGERS_PER_DAY = 10
_DAY_MS = 86_400_000
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_CLOID = re.compile(r"0x[0-9a-fA-F]{32}")
_TIFS: dict[object, Tif] = {"Alo": "Alo", "Ioc": "Ioc", "Gtc": "Gtc"}
_OK_DEFAULT = {"status": "ok", "response": {"type": "default"}}


class MalformedError(ValueError):
    """The body or the action does not deserialize."""


@dataclass(frozen=True, slots=True)
class _Envelope:
    action: dict[str, Any]
    nonce: int
    signature: dict[str, Any]
    vault: str | None
    expires_after: int | None


def respond(ex: SimExchange, payload: dict[str, Any], storm: StormCheck) -> Response:
    """The `response` object of an action post, and the frames it caused."""
    try:
        env = _envelope(payload)
        if env.action["type"] == "approveAgent":
            return _action(_approve_agent(ex, env)), []
        run, weight, cancels_only = _parse_l1(env.action)
        signer = recover_signer(
            env.action, env.nonce, env.signature, env.vault, env.expires_after, ex.is_mainnet
        )
    except MalformedError as exc:
        return {"type": "error", "payload": DESERIALIZE + str(exc)}, []
    except SigningError as exc:
        return {"type": "error", "payload": DESERIALIZE + f"signature: {exc.message}"}, []
    now = ex.now_ms()
    owner = ex.accounts.owner_of(signer, now)
    if owner is None:
        return _err(f"User or API Wallet {signer} does not exist."), []
    refusal = _gate(ex, env, signer, owner, weight, cancels_only, now)
    if refusal is not None:
        return _err(refusal), []
    response, pushes = run(ex, owner, storm)
    return _action(response), pushes


def _gate(
    ex: SimExchange,
    env: _Envelope,
    signer: str,
    owner: str,
    weight: int,
    cancels_only: bool,
    now: int,
) -> str | None:
    if env.vault is not None:
        return f"Vault not registered: {env.vault.lower()}"
    if env.expires_after is not None and now > env.expires_after:
        ex.accounts.spend(owner, 5 * weight, cancels_only=cancels_only)
        return (
            f"Action expired: expiresAfter {env.expires_after} is earlier than the "
            f"exchange time {now}."
        )
    refusal = ex.nonces.check(signer, env.nonce, now)
    if refusal is None:
        refusal = ex.accounts.spend(owner, weight, cancels_only=cancels_only)
    if refusal is None:
        ex.nonces.record(signer, env.nonce)
    return refusal


def _action(body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "action", "payload": body}


def _err(text: str) -> dict[str, Any]:
    return _action({"status": "err", "response": text})


# --- deserialization ----------------------------------------------------------------------


def _envelope(payload: dict[str, Any]) -> _Envelope:
    action = payload.get("action")
    if not isinstance(action, dict) or not isinstance(action.get("type"), str):
        raise MalformedError("missing field `action`" if action is None else "action: invalid")
    nonce = _uint(payload.get("nonce"), "nonce")
    signature = payload.get("signature")
    if not isinstance(signature, dict):
        raise MalformedError("missing field `signature`")
    vault = payload.get("vaultAddress")
    if vault is not None and (not isinstance(vault, str) or not _ADDRESS.fullmatch(vault)):
        raise MalformedError("vaultAddress: invalid address")
    expires = payload.get("expiresAfter")
    expires_after = None if expires is None else _uint(expires, "expiresAfter")
    return _Envelope(action, nonce, signature, vault, expires_after)


def _uint(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 64:
        raise MalformedError(f"missing field `{name}`" if value is None else f"{name}: invalid")
    return value


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise MalformedError(f"{name}: invalid type, expected a boolean")
    return value


def _list(action: dict[str, Any], key: str) -> list[Any]:
    value = action.get(key)
    if not isinstance(value, list):
        why = f"missing field `{key}`" if value is None else f"{key}: expected a list"
        raise MalformedError(why)
    return value


def _parse_l1(action: dict[str, Any]) -> tuple[_Run, int, bool]:
    """(how to run it, its request weight, whether it only cancels) for an L1 action."""
    kind = action["type"]
    if kind == "order":
        orders = [parse_order(item) for item in _list(action, "orders")]
        grouping = action.get("grouping")
        if grouping not in ("na", "normalTpsl", "positionTpsl"):
            raise MalformedError("grouping: unknown variant")
        return (lambda ex, owner, storm: _place(ex, owner, orders, storm)), max(
            len(orders), 1
        ), False
    if kind == "cancel":
        pairs = [_cancel_pair(item, "a", "o") for item in _list(action, "cancels")]
        return (lambda ex, owner, _: _cancel(ex, owner, pairs)), max(len(pairs), 1), True
    if kind == "cancelByCloid":
        pairs = [_cancel_pair(item, "asset", "cloid") for item in _list(action, "cancels")]
        return (lambda ex, owner, _: _cancel(ex, owner, pairs)), max(len(pairs), 1), True
    return _parse_simple(action, kind), 1, False


def _parse_simple(action: dict[str, Any], kind: str) -> _Run:
    if kind == "noop":
        return lambda ex, owner, _: (_OK_DEFAULT, [])
    if kind == "scheduleCancel":
        raw = action.get("time")
        time_ms = None if raw is None else _uint(raw, "time")
        return lambda ex, owner, _: (_schedule(ex, owner, time_ms), [])
    if kind == "updateLeverage":
        asset = _uint(action.get("asset"), "asset")
        is_cross = _bool(action.get("isCross"), "isCross")
        leverage = _uint(action.get("leverage"), "leverage")
        return lambda ex, owner, _: (_leverage(ex, owner, asset, is_cross, leverage), [])
    if kind == "updateIsolatedMargin":
        asset = _uint(action.get("asset"), "asset")
        _bool(action.get("isBuy"), "isBuy")
        ntli = action.get("ntli")
        if isinstance(ntli, bool) or not isinstance(ntli, int):
            raise MalformedError("ntli: invalid type, expected an integer")
        usdc = Decimal(ntli).scaleb(-6)
        return lambda ex, owner, _: (_margin(ex, owner, asset, usdc), [])
    text = f"Action type {kind} is not supported by the simulator."
    return lambda ex, owner, _: ({"status": "err", "response": text}, [])


@dataclass(frozen=True, slots=True)
class OrderWire:
    """One order of an `order` action, read by `parse_order` (prices and sizes as sent)."""

    asset: int
    is_buy: bool
    px: str
    sz: str
    reduce_only: bool
    tif: Tif | None  # None: a trigger order
    cloid: str | None


def parse_order(item: Any) -> OrderWire:
    """One item of an `order` action's `orders`.

    Raises:
        MalformedError: the item is not an order as the exchange deserializes it.
    """
    if not isinstance(item, dict):
        raise MalformedError("orders: expected objects")
    for key in ("p", "s"):
        if not isinstance(item.get(key), str):
            raise MalformedError(f"orders.{key}: expected a decimal string")
    kind = item.get("t")
    tif: Tif | None = None
    if isinstance(kind, dict) and isinstance(kind.get("limit"), dict):
        tif = _TIFS.get(kind["limit"].get("tif"))
        if tif is None:
            raise MalformedError("orders.t.limit.tif: unknown variant")
    elif not (isinstance(kind, dict) and isinstance(kind.get("trigger"), dict)):
        raise MalformedError("orders.t: expected limit or trigger")
    cloid = item.get("c")
    if cloid is not None and (not isinstance(cloid, str) or not _CLOID.fullmatch(cloid)):
        raise MalformedError("orders.c: invalid cloid")
    return OrderWire(
        _uint(item.get("a"), "orders.a"), _bool(item.get("b"), "orders.b"), item["p"],
        item["s"], _bool(item.get("r"), "orders.r"), tif,
        cloid.lower() if cloid is not None else None,
    )  # fmt: skip


def _cancel_pair(item: Any, asset_key: str, order_key: str) -> tuple[int, int | str]:
    if not isinstance(item, dict):
        raise MalformedError("cancels: expected objects")
    asset = _uint(item.get(asset_key), f"cancels.{asset_key}")
    target = item.get(order_key)
    if order_key == "cloid":
        if not isinstance(target, str) or not _CLOID.fullmatch(target):
            raise MalformedError("cancels.cloid: invalid cloid")
        return asset, target.lower()
    return asset, _uint(target, f"cancels.{order_key}")


# --- execution --------------------------------------------------------------------------------


def _canonical(text: str) -> Decimal | None:
    try:
        value = parse_decimal(text)
    except ValueError:
        return None
    return value if value > 0 and to_wire(value) == text else None


def _place(
    ex: SimExchange, owner: str, orders: list[OrderWire], storm: StormCheck
) -> Response:
    if not orders:
        return {"status": "err", "response": "Cannot place an empty batch of orders."}, []
    statuses: list[Any] = []
    pushes: list[Push] = []
    for order in orders:
        status, caused = _place_one(ex, owner, order, storm)
        statuses.append(status)
        pushes.extend(caused)
    response = {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}
    return response, pushes


def _place_one(
    ex: SimExchange, owner: str, order: OrderWire, storm: StormCheck
) -> tuple[Any, list[Push]]:
    refusal = _market_refusal(ex, order.asset)
    if refusal is None and order.tif is None:
        refusal = "Trigger orders are not simulated."
    if refusal is None and storm is not None and storm():
        refusal = REJECT_STORM_ERROR
    px, sz = _canonical(order.px), _canonical(order.sz)
    if refusal is None and px is None:
        refusal = TICK_REJECT
    if refusal is None and sz is None:
        refusal = INVALID_SIZE
    if refusal is not None or px is None or sz is None or order.tif is None:
        return {"error": refusal}, []
    result = ex.engine.place(
        owner, order.asset, order.is_buy, px, sz, order.tif, order.reduce_only, order.cloid,
    )  # fmt: skip
    return result.status.wire(), ex.result_pushes(result.fills, result.events, result.trades)


def _market_refusal(ex: SimExchange, asset: int) -> str | None:
    if any(driver.spec.asset == asset for driver in ex.drivers.values()):
        return None
    try:
        item = ex.directory.by_asset_id(asset)
    except MarketError:
        return f"Invalid asset: {asset}."
    return (
        f"Trading {item.name} is not simulated here (asset {asset}); start the simulator "
        f"with --market {item.coin}."
    )


def _cancel(ex: SimExchange, owner: str, pairs: list[tuple[int, int | str]]) -> Response:
    statuses: list[Any] = []
    pushes: list[Push] = []
    for asset, target in pairs:
        if _market_refusal(ex, asset) is not None:
            statuses.append({"error": "Order was never placed, already canceled, or filled."})
            continue
        if isinstance(target, str):
            result = ex.engine.cancel_by_cloid(owner, asset, target)
        else:
            result = ex.engine.cancel(owner, asset, target)
        statuses.append(result.wire())
        pushes.extend(ex.result_pushes((), result.events, ()))
    response = {"status": "ok", "response": {"type": "cancel", "data": {"statuses": statuses}}}
    return response, pushes


def _schedule(ex: SimExchange, owner: str, time_ms: int | None) -> dict[str, Any]:
    volume = ex.accounts.volume(owner)
    if volume < SCHEDULE_VOLUME:
        traded = to_wire(volume.quantize(Decimal("0.01")))
        return {
            "status": "err",
            "response": "Cannot set scheduled cancel time until enough volume traded. "
            f"Required: $1000000. Traded: ${traded}.",
        }
    now = ex.now_ms()
    if time_ms is None:
        ex.scheduled_cancels.pop(owner, None)
        return _OK_DEFAULT
    if time_ms < now + SCHEDULE_MIN_AHEAD_MS:
        text = "Scheduled cancel time too early, must be at least 5 seconds from now."
        return {"status": "err", "response": text}
    if ex.schedule_triggers.get((owner, now // _DAY_MS), 0) >= SCHEDULE_TRIGGERS_PER_DAY:
        return {"status": "err", "response": "Too many scheduled cancel triggers today."}
    ex.scheduled_cancels[owner] = time_ms
    return _OK_DEFAULT


def run_scheduled_cancels(ex: SimExchange, now_ms: int) -> list[Push]:
    """Cancel every order of the accounts whose scheduled cancel time has come."""
    pushes: list[Push] = []
    for owner, due in sorted(ex.scheduled_cancels.items()):
        if due > now_ms:
            continue
        del ex.scheduled_cancels[owner]
        day = (owner, now_ms // _DAY_MS)
        ex.schedule_triggers[day] = ex.schedule_triggers.get(day, 0) + 1
        events = [replace(e, status="scheduledCancel") for e in ex.engine.cancel_all(owner)]
        pushes.extend(ex.result_pushes((), events, ()))
    return pushes


def _leverage(
    ex: SimExchange, owner: str, asset: int, is_cross: bool, leverage: int
) -> dict[str, Any]:
    refusal = _market_refusal(ex, asset)
    if refusal is None:
        refusal = ex.engine.update_leverage(owner, asset, leverage, is_cross=is_cross)
    return _OK_DEFAULT if refusal is None else {"status": "err", "response": refusal}


def _margin(ex: SimExchange, owner: str, asset: int, usdc: Decimal) -> dict[str, Any]:
    refusal = _market_refusal(ex, asset)
    if refusal is None:
        refusal = ex.engine.update_isolated_margin(owner, asset, usdc)
    return _OK_DEFAULT if refusal is None else {"status": "err", "response": refusal}


# --- approveAgent (user-signed) -------------------------------------------------------------


def _approve_agent(ex: SimExchange, env: _Envelope) -> dict[str, Any]:
    action = env.action
    agent = action.get("agentAddress")
    name = action.get("agentName", "")
    if not isinstance(agent, str) or not _ADDRESS.fullmatch(agent):
        raise MalformedError("agentAddress: invalid address")
    if not isinstance(name, str):
        raise MalformedError("agentName: expected a string")
    if _uint(action.get("nonce"), "action.nonce") != env.nonce:
        raise MalformedError("action.nonce: must equal the request nonce")
    for key in ("signatureChainId", "hyperliquidChain"):
        if not isinstance(action.get(key), str):
            raise MalformedError(f"missing field `{key}`")
    try:
        signer = recover_approve_agent(action, env.signature)
    except SigningError as exc:
        raise MalformedError(f"signature: {exc.message}") from None
    expected = "Mainnet" if ex.is_mainnet else "Testnet"
    now = ex.now_ms()
    refusal: str | None = None
    if action["hyperliquidChain"] != expected:
        refusal = f"hyperliquidChain must be {expected} on this exchange."
    elif env.vault is not None or env.expires_after is not None:
        refusal = "approveAgent takes neither vaultAddress nor expiresAfter."
    elif not ex.accounts.is_account(signer):
        refusal = f"Must deposit before performing actions. User: {signer}"
    else:
        refusal = ex.nonces.check(signer, env.nonce, now)
    if refusal is None:
        refusal = ex.accounts.spend(signer, 1, cancels_only=False)
    if refusal is None:
        ex.nonces.record(signer, env.nonce)
        refusal, replaced = ex.accounts.approve_agent(signer, agent, name)
        for old in replaced:
            ex.nonces.forget(old)
    return _OK_DEFAULT if refusal is None else {"status": "err", "response": refusal}

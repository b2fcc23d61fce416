"""Signed trading on the simulator: fills, statuses and the exchange's refusals.

The exchange's error texts come from PROTOCOL.md's error catalogue (section 4.3) and the
frames captured from the real exchange; the simulator's own texts (for cases the exchange
does not document) are asserted by their stable prefix only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hip3term.venue.hyperliquid.actions import (
    cancel_action,
    cancel_by_cloid_action,
    noop_action,
    order_action,
    schedule_cancel_action,
    update_leverage_action,
)
from hip3term.venue.hyperliquid.signing import signed_body
from hip3term.venue.hyperliquid.user_signing import approve_agent_body
from tests.integration.conftest import (
    ACCOUNT_KEY,
    AGENT_KEY,
    COIN,
    COIN_ASSET,
    STRANGER_KEY,
    SimClient,
    key_shape,
    real_frames,
)

ACCOUNT = "real_account_frames.jsonl"
ME = ACCOUNT_KEY.address


def raw_order(px: str, sz: str, *, is_buy: bool = True, tif: str = "Gtc") -> dict[str, Any]:
    """An order action with the price and size strings exactly as given."""
    wire = {"a": COIN_ASSET, "b": is_buy, "p": px, "s": sz, "r": False,
            "t": {"limit": {"tif": tif}}}  # fmt: skip
    return order_action([wire])


async def test_resting_order_shows_in_order_updates_and_open_orders(client: SimClient) -> None:
    await client.subscribe({"type": "orderUpdates", "user": ME})
    bids, _ = await client.book()
    cloid = "0x" + "a1" * 16
    status = await client.order(bids[0]["px"], "0.1", tif="Alo", cloid=cloid)
    oid = status["resting"]["oid"]
    assert status == {"resting": {"oid": oid, "cloid": cloid}}
    update = await client.recv_channel("orderUpdates")
    assert key_shape(update) == key_shape(real_frames(ACCOUNT)[0])  # captured, with cloid
    assert update["data"][0]["status"] == "open"
    assert update["data"][0]["order"]["oid"] == oid
    orders = await client.info({"type": "openOrders", "user": ME, "dex": "xyz"})
    assert [order["oid"] for order in orders] == [oid]


async def test_ioc_fill_reaches_every_private_channel_and_the_position(client: SimClient) -> None:
    await client.subscribe({"type": "orderUpdates", "user": ME})
    await client.subscribe({"type": "userFills", "user": ME})
    snapshot = await client.recv_channel("userFills")
    assert snapshot["data"] == {"isSnapshot": True, "user": ME, "fills": []}
    await client.subscribe({"type": "userEvents", "user": ME})
    await client.subscribe({"type": "trades", "coin": COIN})
    _, asks = await client.book()
    status = await client.order(asks[0]["px"], "0.2", tif="Ioc")
    filled = status["filled"]
    assert Decimal(filled["totalSz"]) == Decimal("0.2")
    frames = await client.barrier()
    by_channel = {frame["channel"]: frame for frame in frames}
    assert by_channel["orderUpdates"]["data"][-1]["status"] == "filled"
    live = by_channel["userFills"]["data"]
    assert "isSnapshot" not in live
    fill = live["fills"][0]
    assert key_shape(fill) == key_shape(real_frames(ACCOUNT)[10]["data"]["fills"][0])
    assert (fill["coin"], fill["side"], fill["dir"], fill["crossed"]) == (
        COIN, "B", "Open Long", True
    )
    assert by_channel["user"]["data"] == {"fills": live["fills"]}
    trade = by_channel["trades"]["data"][0]
    assert trade["users"][0] == ME and trade["side"] == "B"
    state = await client.info({"type": "clearinghouseState", "user": ME, "dex": "xyz"})
    assert state["assetPositions"][0]["position"]["szi"] == "0.2"


async def test_resting_bid_is_hit_by_the_house_taker(client: SimClient) -> None:
    await client.subscribe({"type": "userFills", "user": ME})
    await client.recv_channel("userFills")  # snapshot
    bids, _ = await client.book()
    oid = (await client.order(bids[0]["px"], "0.1", tif="Alo"))["resting"]["oid"]
    fills: list[dict[str, Any]] = []
    for _ in range(600):  # at most 10 simulated minutes, one second at a time
        await client.server.advance(1000)
        fills = [f for frame in await client.barrier() if frame["channel"] == "userFills"
                 for f in frame["data"]["fills"]]  # fmt: skip
        if fills:
            break
    assert fills, "the house taker never reached the resting bid"
    assert fills[0]["oid"] == oid and fills[0]["crossed"] is False


async def test_wrong_key_is_refused_with_the_recovered_address(client: SimClient) -> None:
    bids, _ = await client.book()
    payload = await client.act(raw_order(bids[0]["px"], "0.1"), STRANGER_KEY)
    assert payload == {
        "status": "err",
        "response": f"User or API Wallet {STRANGER_KEY.address} does not exist.",
    }


async def test_tampered_action_recovers_a_random_signer(client: SimClient) -> None:
    bids, _ = await client.book()
    action = raw_order(bids[0]["px"], "0.1")
    body = signed_body(ACCOUNT_KEY, action, client.next_nonce(), None, None, True)
    body["action"]["orders"][0]["s"] = "0.2"  # changed after signing
    response = await client.post("action", body)
    text = response["payload"]["response"]
    assert text.startswith("User or API Wallet 0x") and text.endswith(" does not exist.")
    assert ME not in text


async def test_duplicate_nonce_is_refused(client: SimClient) -> None:
    nonce = client.next_nonce()
    assert (await client.act(noop_action(), nonce=nonce))["status"] == "ok"
    payload = await client.act(noop_action(), nonce=nonce)
    assert payload == {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}


async def test_nonce_outside_the_window_is_refused(client: SimClient) -> None:
    now = client.server.exchange.now_ms()
    for nonce in (now - 2 * 86_400_000, now + 86_400_000):
        payload = await client.act(noop_action(), nonce=nonce)
        assert payload["status"] == "err"
        assert payload["response"].startswith(f"Invalid nonce: nonce {nonce} is outside")


async def test_bad_tick_and_non_canonical_prices_get_the_tick_error(client: SimClient) -> None:
    bids, _ = await client.book()
    best = Decimal(bids[0]["px"])
    for px in (str(best - Decimal("0.005")), f"{best:.3f}"):  # 3 decimals: off-tick / "…0"
        payload = await client.act(raw_order(px, "0.1"))
        statuses = payload["response"]["data"]["statuses"]
        assert statuses == [{"error": "Price must be divisible by tick size."}]


async def test_order_under_ten_dollars_is_refused(client: SimClient) -> None:
    bids, _ = await client.book()
    status = await client.order(bids[0]["px"], "0.01")
    assert status == {"error": "Order must have minimum value of $10."}


async def test_crossing_alo_is_refused_with_the_bbo(client: SimClient) -> None:
    await client.subscribe({"type": "orderUpdates", "user": ME})
    bids, asks = await client.book()
    status = await client.order(asks[0]["px"], "0.1", tif="Alo")
    assert status == {
        "error": "Post only order would have immediately matched, bbo was "
        f"{bids[0]['px']}@{asks[0]['px']}."
    }
    update = await client.recv_channel("orderUpdates")
    assert update["data"][0]["status"] == real_frames(ACCOUNT)[9]["data"][0]["status"]


async def test_ioc_that_cannot_match_is_refused(client: SimClient) -> None:
    bids, _ = await client.book()
    status = await client.order(bids[0]["px"], "0.1", tif="Ioc")
    assert status == {"error": "Order could not immediately match against any resting orders."}


async def test_position_increasing_reduce_only_is_refused(client: SimClient) -> None:
    _, asks = await client.book()
    status = await client.order(asks[0]["px"], "0.1", tif="Ioc", reduce_only=True)
    assert status == {"error": "Reduce only order would increase position."}
    await client.order(asks[0]["px"], "0.1", tif="Ioc")  # now long 0.1
    status = await client.order(asks[0]["px"], "0.1", tif="Ioc", reduce_only=True)
    assert status == {"error": "Reduce only order would increase position."}


async def test_order_beyond_the_margin_is_refused(client: SimClient) -> None:
    bids, _ = await client.book()
    status = await client.order(bids[-1]["px"], "1000")  # ~$190k at 10x on $10k
    assert status == {"error": "Insufficient margin to place order."}


async def test_agent_trades_for_its_account_only_after_approval(client: SimClient) -> None:
    bids, _ = await client.book()
    before = await client.act(raw_order(bids[-1]["px"], "0.1"), AGENT_KEY)
    assert before == {
        "status": "err",
        "response": f"User or API Wallet {AGENT_KEY.address} does not exist.",
    }
    approval = approve_agent_body(ACCOUNT_KEY, AGENT_KEY.address, "", client.next_nonce(), True)
    assert await client.post("action", approval) == {
        "type": "action", "payload": {"status": "ok", "response": {"type": "default"}}
    }
    after = await client.act(raw_order(bids[-1]["px"], "0.1"), AGENT_KEY)
    oid = after["response"]["data"]["statuses"][0]["resting"]["oid"]
    mine = await client.info({"type": "openOrders", "user": ME, "dex": "xyz"})
    assert [order["oid"] for order in mine] == [oid]
    agents = await client.info({"type": "openOrders", "user": AGENT_KEY.address, "dex": "xyz"})
    assert agents == []


async def test_approve_agent_needs_a_funded_signer(client: SimClient) -> None:
    body = approve_agent_body(STRANGER_KEY, AGENT_KEY.address, "bot", client.next_nonce(), True)
    response = await client.post("action", body)
    assert response["payload"] == {
        "status": "err",
        "response": f"Must deposit before performing actions. User: {STRANGER_KEY.address}",
    }


async def test_cancel_and_cancel_by_cloid(client: SimClient) -> None:
    bids, _ = await client.book()
    cloid = "0x" + "0f" * 16
    first = (await client.order(bids[-1]["px"], "0.1"))["resting"]["oid"]
    await client.order(bids[-1]["px"], "0.1", cloid=cloid)
    payload = await client.act(cancel_action([(COIN_ASSET, first)]))
    assert payload["response"] == {"type": "cancel", "data": {"statuses": ["success"]}}
    payload = await client.act(cancel_by_cloid_action([(COIN_ASSET, cloid)]))
    assert payload["response"]["data"]["statuses"] == ["success"]
    payload = await client.act(cancel_action([(COIN_ASSET, first)]))
    assert payload["response"]["data"]["statuses"] == [
        {"error": "Order was never placed, already canceled, or filled."}
    ]
    assert await client.info({"type": "openOrders", "user": ME, "dex": "xyz"}) == []


async def test_schedule_cancel_needs_a_million_of_volume(client: SimClient) -> None:
    later = client.server.exchange.now_ms() + 60_000
    payload = await client.act(schedule_cancel_action(later))
    assert payload == {
        "status": "err",
        "response": "Cannot set scheduled cancel time until enough volume traded. "
        "Required: $1000000. Traded: $0.",
    }


async def test_scheduled_cancel_cancels_every_order_at_its_time(client: SimClient) -> None:
    client.server.exchange.accounts.add_volume(ME, Decimal(1_000_000))  # as if traded
    await client.subscribe({"type": "orderUpdates", "user": ME})
    bids, _ = await client.book()
    await client.order(bids[-1]["px"], "0.1")
    at = client.server.exchange.now_ms() + 10_000
    assert (await client.act(schedule_cancel_action(at)))["status"] == "ok"
    await client.server.advance(9_000)
    assert await client.info({"type": "openOrders", "user": ME, "dex": "xyz"}) != []
    await client.server.advance(2_000)
    updates = [f for f in await client.barrier() if f["channel"] == "orderUpdates"]
    assert updates[-1]["data"][0]["status"] == "scheduledCancel"
    assert await client.info({"type": "openOrders", "user": ME, "dex": "xyz"}) == []


async def test_update_leverage_and_noop(client: SimClient) -> None:
    ok = {"status": "ok", "response": {"type": "default"}}
    assert await client.act(update_leverage_action(COIN_ASSET, False, 5)) == ok
    cross = await client.act(update_leverage_action(COIN_ASSET, True, 5))
    assert cross["status"] == "err"
    too_high = await client.act(update_leverage_action(COIN_ASSET, False, 50))
    assert too_high["status"] == "err"
    assert await client.act(noop_action()) == ok


async def test_expired_action_and_vault_are_refused(client: SimClient) -> None:
    now = client.server.exchange.now_ms()
    expired = await client.act(noop_action(), expires_after=now - 1)
    assert expired["status"] == "err"
    assert expired["response"].startswith("Action expired")
    fresh = await client.act(noop_action(), expires_after=now + 1000)
    assert fresh["status"] == "ok"
    vault = await client.act(noop_action(), vault="0x" + "44" * 20)
    assert vault == {"status": "err", "response": "Vault not registered: 0x" + "44" * 20}


async def test_market_that_is_not_simulated_refuses_orders(client: SimClient) -> None:
    wire = {"a": 110001, "b": True, "p": "400", "s": "1", "r": False,
            "t": {"limit": {"tif": "Gtc"}}}  # fmt: skip
    payload = await client.act(order_action([wire]))
    error = payload["response"]["data"]["statuses"][0]["error"]
    assert error.startswith("Trading xyz:TSLA is not simulated here")


async def test_unsupported_action_type_is_refused(client: SimClient) -> None:
    payload = await client.act({"type": "usdClassTransfer", "amount": "1", "toPerp": True})
    assert payload["status"] == "err"
    assert payload["response"] == "Action type usdClassTransfer is not supported by the simulator."


async def test_malformed_action_is_a_deserialize_error(client: SimClient) -> None:
    response = await client.post("action", {"action": {"type": "order"}, "nonce": 1})
    assert response["type"] == "error"
    assert response["payload"].startswith("Failed to deserialize the JSON body")

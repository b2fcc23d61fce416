"""Under the simulated clock, the same seed and client actions give byte-identical frames."""

from __future__ import annotations

from tests.integration.conftest import (
    ACCOUNT_KEY,
    COIN,
    ClientFactory,
    ServerFactory,
    SimClient,
)

SUBSCRIPTIONS = [
    {"type": "l2Book", "coin": COIN},
    {"type": "l2Book", "coin": COIN, "fast": True},
    {"type": "bbo", "coin": COIN},
    {"type": "trades", "coin": COIN},
    {"type": "activeAssetCtx", "coin": COIN},
    {"type": "allMids", "dex": "xyz"},
    {"type": "orderUpdates", "user": ACCOUNT_KEY.address},
    {"type": "userFills", "user": ACCOUNT_KEY.address},
    {"type": "userEvents", "user": ACCOUNT_KEY.address},
]


async def raw_until_pong(client: SimClient) -> list[str]:
    await client.send_json({"method": "ping"})
    frames: list[str] = []
    while (text := await client.recv_text()) != '{"channel":"pong"}':
        frames.append(text)
    return frames


async def session(make_server: ServerFactory, make_client: ClientFactory, seed: int) -> list[str]:
    server = await make_server(seed=seed, markets=("COIN", "TSLA"))
    client = await make_client(server)
    for subscription in SUBSCRIPTIONS:
        await client.send_json({"method": "subscribe", "subscription": subscription})
    frames = await raw_until_pong(client)
    for round_number in range(6):
        bids, asks = await client.book()
        await client.order(bids[0]["px"], "0.1", tif="Alo")
        await client.order(asks[0]["px"], "0.1", tif="Ioc", is_buy=round_number % 2 == 0)
        await server.advance(5_000)
        frames.extend(await raw_until_pong(client))
    return frames


async def test_same_seed_same_actions_give_identical_frames(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    first = await session(make_server, make_client, seed=11)
    second = await session(make_server, make_client, seed=11)
    assert len(first) > 200
    assert first == second


async def test_another_seed_gives_another_market(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    first = await session(make_server, make_client, seed=11)
    other = await session(make_server, make_client, seed=12)
    assert first != other

"""Action builders: key order, wire strings and validation.

The expected JSON texts and signatures are the official vectors transcribed in PROTOCOL.md
4.6.1 (Python SDK, key 0x0123…, nonce 0) and 4.6.2 (Rust SDK, key e908…, nonce 1583838).
Comparing JSON *text* checks key order, which `dict ==` would ignore; signing the built
action and matching the official signature checks the msgpack bytes as well.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from hip3term.keys import SecretKey
from hip3term.venue.hyperliquid.actions import (
    BuilderFee,
    LimitType,
    TriggerType,
    cancel_action,
    cancel_by_cloid_action,
    cloid_from_int,
    noop_action,
    order_action,
    order_wire,
    random_cloid,
    schedule_cancel_action,
    update_leverage_action,
    validate_cloid,
)
from hip3term.venue.hyperliquid.signing import action_hash, sign_l1_action

PY_KEY = SecretKey.from_hex("0x0123456789012345678901234567890123456789012345678901234567890123")
RS_KEY = SecretKey.from_hex("e908f86dbb4d55ac876378565aafeabc187f6690f046459397b17d9b9a19688e")


def _text(action: object) -> str:
    return json.dumps(action, separators=(",", ":"))


def _py_wire(action: dict[str, Any], mainnet: bool) -> dict[str, Any]:
    return dict(sign_l1_action(PY_KEY, action, 0, None, None, mainnet).to_wire())


# --- order ---------------------------------------------------------------------------------


def test_order_action_limit_gtc_matches_python_vector_2() -> None:
    action = order_action(
        [order_wire(1, True, Decimal(100), Decimal(100), False, LimitType("Gtc"), None)]
    )
    assert _text(action) == (
        '{"type":"order","orders":[{"a":1,"b":true,"p":"100","s":"100","r":false,'
        '"t":{"limit":{"tif":"Gtc"}}}],"grouping":"na"}'
    )
    assert _py_wire(action, True) == {
        "r": "0xd65369825a9df5d80099e513cce430311d7d26ddf477f5b3a33d2806b100d78e",
        "s": "0x2b54116ff64054968aa237c20ca9ff68000f977c93289157748a3162b6ea940e",
        "v": 28,
    }


def test_order_action_with_cloid_matches_python_vector_3() -> None:
    wire = order_wire(
        1, True, Decimal("100"), Decimal("100"), False, LimitType("Gtc"), cloid_from_int(1)
    )
    action = order_action([wire])
    assert _text(action) == (
        '{"type":"order","orders":[{"a":1,"b":true,"p":"100","s":"100","r":false,'
        '"t":{"limit":{"tif":"Gtc"}},"c":"0x00000000000000000000000000000001"}],"grouping":"na"}'
    )
    assert _py_wire(action, False) == {
        "r": "0xeba0664bed2676fc4e5a743bf89e5c7501aa6d870bdb9446e122c9466c5cd16d",
        "s": "0x7f3e74825c9114bc59086f1eebea2928c190fdfbfde144827cb02b85bbe90988",
        "v": 28,
    }


def test_order_action_trigger_matches_python_vector_5() -> None:
    trigger = TriggerType(is_market=True, trigger_px=Decimal("103"), tpsl="sl")
    action = order_action([order_wire(1, True, 100, 100, False, trigger)])
    assert _text(action["orders"]) == (
        '[{"a":1,"b":true,"p":"100","s":"100","r":false,'
        '"t":{"trigger":{"isMarket":true,"triggerPx":"103","tpsl":"sl"}}}]'
    )
    assert _py_wire(action, True) == {
        "r": "0x98343f2b5ae8e26bb2587daad3863bc70d8792b09af1841b6fdd530a2065a3f9",
        "s": "0x6b5bb6bb0633b710aa22b721dd9dee6d083646a5f8e581a20b545be6c1feb405",
        "v": 27,
    }


def test_order_action_matches_phantom_agent_production_vector() -> None:
    wire = order_wire(4, True, Decimal("1670.1"), Decimal("0.0147"), False, LimitType("Ioc"))
    assert _text(wire) == (
        '{"a":4,"b":true,"p":"1670.1","s":"0.0147","r":false,"t":{"limit":{"tif":"Ioc"}}}'
    )
    connection_id = action_hash(order_action([wire]), 1677777606040, None, None)
    assert connection_id.hex() == (
        "0fcbeda5ae3c4950a548021552a4fea2226858c4453571bf3f24ba017eac2908"
    )


@pytest.mark.parametrize(
    ("px", "expected"),
    [
        (Decimal("100.0"), "100"),
        (Decimal("4.3370"), "4.337"),
        (Decimal("1E+3"), "1000"),
        (Decimal("0.00076"), "0.00076"),
        (25451, "25451"),
    ],
)
def test_order_wire_prices_are_canonical(px: Decimal | int, expected: str) -> None:
    wire = order_wire(110007, False, px, Decimal("1.50"), True, LimitType("Alo"))
    assert wire["p"] == expected
    assert wire["s"] == "1.5"


def test_order_wire_omits_c_without_cloid_and_lowercases_it() -> None:
    assert "c" not in order_wire(1, True, 1, 1, False, LimitType("Ioc"))
    upper = "0x" + "AB" * 16
    wire = order_wire(1, True, 1, 1, False, LimitType("Ioc"), upper)
    assert list(wire) == ["a", "b", "p", "s", "r", "t", "c"]
    assert wire["c"] == "0x" + "ab" * 16


def test_order_action_builder_is_last_and_lowercased() -> None:
    wire = order_wire(1, True, 1, 1, False, LimitType("Ioc"))
    builder = BuilderFee("0x" + "AbCd" * 10, 25)
    action = order_action([wire], "normalTpsl", builder)
    assert list(action) == ["type", "orders", "grouping", "builder"]
    assert action["builder"] == {"b": "0x" + "abcd" * 10, "f": 25}
    assert action["grouping"] == "normalTpsl"


@pytest.mark.parametrize(
    ("px", "sz", "trigger_px"),
    [
        (100.0, Decimal(1), Decimal(1)),
        (Decimal(1), 0.5, Decimal(1)),
        (Decimal(1), Decimal(1), 99.5),
    ],
)
def test_order_wire_refuses_float(px: Any, sz: Any, trigger_px: Any) -> None:
    with pytest.raises(TypeError):
        order_wire(1, True, px, sz, False, TriggerType(False, trigger_px, "tp"))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"asset": True}, TypeError),
        ({"asset": -1}, ValueError),
        ({"asset": "1"}, TypeError),
        ({"is_buy": 1}, TypeError),
        ({"reduce_only": 0}, TypeError),
        ({"px": Decimal(0)}, ValueError),
        ({"sz": Decimal("-1")}, ValueError),
        ({"px": True}, TypeError),
        ({"order_type": {"limit": {"tif": "Gtc"}}}, TypeError),
        ({"cloid": "0x1234"}, ValueError),
    ],
)
def test_order_wire_bad_argument_raises(kwargs: dict[str, Any], error: type[Exception]) -> None:
    arguments: dict[str, Any] = {
        "asset": 1,
        "is_buy": True,
        "px": Decimal(1),
        "sz": Decimal(1),
        "reduce_only": False,
        "order_type": LimitType("Gtc"),
        "cloid": None,
    }
    arguments.update(kwargs)
    with pytest.raises(error):
        order_wire(**arguments)


def test_order_types_validate_their_fields() -> None:
    with pytest.raises(ValueError):
        LimitType("GTC")  # type: ignore[arg-type]  # reason: the bad value under test
    with pytest.raises(ValueError):
        TriggerType(True, Decimal(1), "stop")  # type: ignore[arg-type]  # reason: under test
    with pytest.raises(TypeError):
        TriggerType(1, Decimal(1), "tp")  # type: ignore[arg-type]  # reason: under test
    with pytest.raises(ValueError):
        TriggerType(True, Decimal(0), "tp")


def test_order_action_refuses_empty_batch_and_unknown_grouping() -> None:
    wire = order_wire(1, True, 1, 1, False, LimitType("Ioc"))
    with pytest.raises(ValueError):
        order_action([])
    with pytest.raises(ValueError):
        order_action([wire], "tpsl")  # type: ignore[arg-type]  # reason: the bad value under test
    with pytest.raises(ValueError):
        BuilderFee("0x1234", 1)
    with pytest.raises(TypeError):
        BuilderFee("0x" + "00" * 20, 1.5)  # type: ignore[arg-type]  # reason: under test


# --- cancels and others --------------------------------------------------------------------


def test_cancel_action_matches_rust_vector() -> None:
    action = cancel_action([(1, 82382)])
    assert _text(action) == '{"type":"cancel","cancels":[{"a":1,"o":82382}]}'
    signature = sign_l1_action(RS_KEY, action, 1583838, None, None, True)
    assert signature.to_bytes65().hex() == (
        "02f76cc5b16e0810152fa0e14e7b219f49c361e3325f771544c6f54e157bf9fa"
        "17ed0afc11a98596be85d5cd9f86600aad515337318f7ab346e5ccc1b03425d51b"
    )


def test_cancel_action_fast_flag_appended_only_when_true() -> None:
    assert _text(cancel_action([(1, 2), (3, 4)], fast=True)) == (
        '{"type":"cancel","cancels":[{"a":1,"o":2},{"a":3,"o":4}],"f":true}'
    )
    assert "f" not in cancel_action([(1, 2)], fast=False)


def test_cancel_by_cloid_action_uses_long_keys() -> None:
    action = cancel_by_cloid_action([(110007, "0x" + "0F" * 16)])
    assert _text(action) == (
        '{"type":"cancelByCloid","cancels":[{"asset":110007,'
        '"cloid":"0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"}]}'
    )
    assert list(cancel_by_cloid_action([(1, cloid_from_int(7))], fast=True)) == [
        "type",
        "cancels",
        "f",
    ]


@pytest.mark.parametrize(
    "build",
    [
        lambda: cancel_action([]),
        lambda: cancel_action([(1, -2)]),
        lambda: cancel_by_cloid_action([]),
        lambda: cancel_by_cloid_action([(1, "0x12")]),
        lambda: schedule_cancel_action(-1),
        lambda: update_leverage_action(1, True, 0),
    ],
)
def test_builders_refuse_bad_values(build: Any) -> None:
    with pytest.raises(ValueError):
        build()


@pytest.mark.parametrize(
    ("time_ms", "text", "r", "s", "v"),
    [
        (
            None,
            '{"type":"scheduleCancel"}',
            "0x6cdfb286702f5917e76cd9b3b8bf678fcc49aec194c02a73e6d4f16891195df9",
            "0x6557ac307fa05d25b8d61f21fb8a938e703b3d9bf575f6717ba21ec61261b2a0",
            27,
        ),
        (
            123456789,
            '{"type":"scheduleCancel","time":123456789}',
            "0x609cb20c737945d070716dcc696ba030e9976fcf5edad87afa7d877493109d55",
            "0x16c685d63b5c7a04512d73f183b3d7a00da5406ff1f8aad33f8ae2163bab758b",
            28,
        ),
    ],
)
def test_schedule_cancel_action_matches_python_vectors_8_and_9(
    time_ms: int | None, text: str, r: str, s: str, v: int
) -> None:
    action = schedule_cancel_action(time_ms)
    assert _text(action) == text
    assert _py_wire(action, True) == {"r": r, "s": s, "v": v}


def test_update_leverage_action_key_order() -> None:
    assert _text(update_leverage_action(110007, False, 10)) == (
        '{"type":"updateLeverage","asset":110007,"isCross":false,"leverage":10}'
    )
    with pytest.raises(TypeError):
        update_leverage_action(1, 1, 3)  # type: ignore[arg-type]  # reason: under test


def test_noop_action() -> None:
    assert _text(noop_action()) == '{"type":"noop"}'
    assert noop_action() is not noop_action()


# --- cloids --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "0x" + "0" * 31,
        "0x" + "0" * 33,
        "00" + "0" * 32,
        "0x" + "g" * 32,
        "0x" + "0" * 30 + " 1",
        1,
    ],
)
def test_validate_cloid_refuses_malformed(bad: Any) -> None:
    with pytest.raises(ValueError):
        validate_cloid(bad)


def test_validate_cloid_lowercases() -> None:
    assert validate_cloid("0X1E60610F0B3D420597C88C1FED2AD5EE") == (
        "0x1e60610f0b3d420597c88c1fed2ad5ee"
    )


def test_cloid_from_int_bounds() -> None:
    assert cloid_from_int(0) == "0x" + "0" * 32
    assert cloid_from_int(2**128 - 1) == "0x" + "f" * 32
    with pytest.raises(ValueError):
        cloid_from_int(2**128)
    with pytest.raises(ValueError):
        cloid_from_int(-1)
    with pytest.raises(TypeError):
        cloid_from_int(True)


def test_random_cloid_is_valid_and_varies() -> None:
    cloids = {random_cloid() for _ in range(50)}
    assert len(cloids) == 50
    assert all(validate_cloid(c) == c for c in cloids)

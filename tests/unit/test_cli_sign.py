"""`hip3term sign`, run as a real subprocess (`python -m hip3term sign ...`).

Expected signatures are the official vectors of PROTOCOL.md 4.6.1 (Python SDK, key
0x0123…, nonce 0) and 4.6.2 (Rust SDK, key e908…, nonce 1583838).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hip3term.cli.sign_cmd import action_warnings
from hip3term.venue.hyperliquid.signing import recover_signer

PY_KEY_HEX = "0123456789012345678901234567890123456789012345678901234567890123"
PY_ADDRESS = "0x14791697260e4c9a71f18484c9f997b308e59325"
RS_KEY_HEX = "e908f86dbb4d55ac876378565aafeabc187f6690f046459397b17d9b9a19688e"
VAULT = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"
KEY_VAR = "HIP3TERM_TEST_SIGN_KEY"

ORDER_2 = (
    '{"type":"order","orders":[{"a":1,"b":true,"p":"100","s":"100","r":false,'
    '"t":{"limit":{"tif":"Gtc"}}}],"grouping":"na"}'
)
ORDER_3 = (
    '{"type":"order","orders":[{"a":1,"b":true,"p":"100","s":"100","r":false,'
    '"t":{"limit":{"tif":"Gtc"}},"c":"0x00000000000000000000000000000001"}],"grouping":"na"}'
)
ORDER_5 = (
    '{"type":"order","orders":[{"a":1,"b":true,"p":"100","s":"100","r":false,'
    '"t":{"trigger":{"isMarket":true,"triggerPx":"103","tpsl":"sl"}}}],"grouping":"na"}'
)
DUMMY = '{"type":"dummy","num":100000000000}'
RS_LIMIT = (
    '{"type":"order","orders":[{"a":1,"b":true,"p":"2000.0","s":"3.5","r":false,'
    '"t":{"limit":{"tif":"Ioc"}}}],"grouping":"na"}'
)


def run_sign(
    args: list[str], stdin: str | bytes, key: str | None = PY_KEY_HEX, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if name != KEY_VAR}
    if key is not None:
        environment[KEY_VAR] = key
    environment.update(env)
    data = stdin.encode() if isinstance(stdin, str) else stdin
    completed = subprocess.run(
        [sys.executable, "-m", "hip3term", "sign", *args],
        input=data,
        capture_output=True,
        env=environment,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(
        completed.args,
        completed.returncode,
        completed.stdout.decode(),
        completed.stderr.decode(),
    )


def body_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\n")
    assert result.stdout.count("\n") == 1  # one line of JSON
    body: dict[str, Any] = json.loads(result.stdout)
    assert list(body) == ["action", "nonce", "signature", "vaultAddress", "expiresAfter"]
    return body


# (stdin, flags, r, s, v) from PROTOCOL.md 4.6.1
PY_CASES: list[tuple[str, list[str], str, str, int]] = [
    (
        ORDER_2,
        [],
        "0xd65369825a9df5d80099e513cce430311d7d26ddf477f5b3a33d2806b100d78e",
        "0x2b54116ff64054968aa237c20ca9ff68000f977c93289157748a3162b6ea940e",
        28,
    ),
    (
        ORDER_2,
        ["--testnet"],
        "0x82b2ba28e76b3d761093aaded1b1cdad4960b3af30212b343fb2e6cdfa4e3d54",
        "0x6b53878fc99d26047f4d7e8c90eb98955a109f44209163f52d8dc4278cbbd9f5",
        27,
    ),
    (
        ORDER_3,
        [],
        "0x41ae18e8239a56cacbc5dad94d45d0b747e5da11ad564077fcac71277a946e3",
        "0x3c61f667e747404fe7eea8f90ab0e76cc12ce60270438b2058324681a00116da",
        27,
    ),
    (
        DUMMY,
        ["--vault", VAULT],
        "0x3c548db75e479f8012acf3000ca3a6b05606bc2ec0c29c50c515066a326239",
        "0x4d402be7396ce74fbba3795769cda45aec00dc3125a984f2a9f23177b190da2c",
        28,
    ),
    (
        ORDER_5,
        ["--testnet"],
        "0x971c554d917c44e0e1b6cc45d8f9404f32172a9d3b3566262347d0302896a2e4",
        "0x206257b104788f80450f8e786c329daa589aa0b32ba96948201ae556d5637eac",
        28,
    ),
    (
        '{"type": "scheduleCancel"}',
        [],
        "0x6cdfb286702f5917e76cd9b3b8bf678fcc49aec194c02a73e6d4f16891195df9",
        "0x6557ac307fa05d25b8d61f21fb8a938e703b3d9bf575f6717ba21ec61261b2a0",
        27,
    ),
    (
        '{\n  "type": "scheduleCancel",\n  "time": 123456789\n}\n',
        ["--testnet"],
        "0x4e4f2dbd4107c69783e251b7e1057d9f2b9d11cee213441ccfa2be63516dc5bc",
        "0x706c656b23428c8ba356d68db207e11139ede1670481a9e01ae2dfcdb0e1a678",
        27,
    ),
]


@pytest.mark.parametrize(("stdin", "flags", "r", "s", "v"), PY_CASES)
def test_sign_python_sdk_vector_body(stdin: str, flags: list[str], r: str, s: str, v: int) -> None:
    result = run_sign(["--key-env", KEY_VAR, "--nonce", "0", *flags], stdin)
    body = body_of(result)
    assert body["signature"] == {"r": r, "s": s, "v": v}
    assert body["nonce"] == 0
    assert body["expiresAfter"] is None
    assert body["vaultAddress"] == (VAULT if "--vault" in flags else None)
    # the action is echoed unchanged, key order included
    assert json.dumps(body["action"]) == json.dumps(json.loads(stdin))
    assert "warning" not in result.stderr
    assert PY_ADDRESS in result.stderr


def test_sign_rust_vector_non_canonical_price_warns_and_signs_as_given() -> None:
    result = run_sign(["--key-env", KEY_VAR, "--nonce", "1583838"], RS_LIMIT, key=RS_KEY_HEX)
    body = body_of(result)
    official = (
        "77957e58e70f43b6b68581f2dc42011fc384538a2e5b7bf42d5b936f19fbb673"
        "60721a8598727230f67080efee48c812a6a4442013fd3b0eed509171bef9f23f1c"
    )
    assert body["signature"] == {
        "r": hex(int(official[:64], 16)),
        "s": hex(int(official[64:128], 16)),
        "v": int(official[128:], 16),
    }
    assert body["action"]["orders"][0]["p"] == "2000.0"
    assert (
        'warning: orders[0].p = "2000.0" is not canonical (the exchange hashes "2000"); '
        "signed as given"
    ) in result.stderr
    assert "orders[0].s" not in result.stderr  # "3.5" is canonical


def test_sign_rust_cancel_vector_testnet() -> None:
    result = run_sign(
        ["--key-env", KEY_VAR, "--nonce", "1583838", "--testnet"],
        '{"type":"cancel","cancels":[{"a":1,"o":82382}]}',
        key="0x" + RS_KEY_HEX.upper(),
    )
    official = (
        "6ffebadfd48067663390962539fbde76cfa36f53be65abe2ab72c9db6d0db444"
        "57720db9d7c4860f142a484f070c84eb4b9694c3a617c83f0d698a27e55fd5e01c"
    )
    assert body_of(result)["signature"] == {
        "r": hex(int(official[:64], 16)),
        "s": hex(int(official[64:128], 16)),
        "v": int(official[128:], 16),
    }


def test_sign_vault_and_expires_after_are_hashed_and_sent() -> None:
    upper_vault = "0x" + VAULT[2:].upper()
    flags = ["--vault", upper_vault, "--expires-after", "1700000030000"]
    result = run_sign(
        ["--key-env", KEY_VAR, "--nonce", "1700000000004", *flags],
        '{"type":"scheduleCancel","time":1700000060000}',
    )
    body = body_of(result)
    assert body["vaultAddress"] == VAULT
    assert body["expiresAfter"] == 1700000030000
    signer = recover_signer(
        body["action"], body["nonce"], body["signature"], VAULT, 1700000030000, True
    )
    assert signer == PY_ADDRESS
    # the same signature without the expiry recovers to someone else
    assert recover_signer(body["action"], body["nonce"], body["signature"], VAULT, None, True) != (
        PY_ADDRESS
    )


def test_sign_default_nonce_is_now_in_ms() -> None:
    before = time.time_ns() // 1_000_000
    body = body_of(run_sign(["--key-env", KEY_VAR], '{"type":"noop"}'))
    after = time.time_ns() // 1_000_000
    assert before <= body["nonce"] <= after
    assert recover_signer({"type": "noop"}, body["nonce"], body["signature"], None, None, True) == (
        PY_ADDRESS
    )


def test_sign_never_prints_the_key() -> None:
    result = run_sign(
        ["--key-env", KEY_VAR, "--nonce", "0"], '{"type":"order","orders":[],"grouping":"na"}'
    )
    assert result.returncode == 0
    for text in (result.stdout, result.stderr):
        assert PY_KEY_HEX not in text.lower()
    bad_key = run_sign(["--key-env", KEY_VAR], DUMMY, key=PY_KEY_HEX[:-1] + "z")
    assert bad_key.returncode == 2
    assert PY_KEY_HEX[:-1] not in bad_key.stdout + bad_key.stderr


def test_sign_warns_on_upper_case_cloid_and_float() -> None:
    stdin = (
        '{"type":"cancelByCloid","cancels":[{"asset":110007,'
        '"cloid":"0x1E60610F0B3D420597C88C1FED2AD5EE"}],"x":1.50}'
    )
    result = run_sign(["--key-env", KEY_VAR, "--nonce", "5"], stdin)
    body_of(result)
    assert (
        'warning: cancels[0].cloid = "0x1E60610F0B3D420597C88C1FED2AD5EE" has upper-case hex '
        '(the exchange hashes "0x1e60610f0b3d420597c88c1fed2ad5ee"); signed as given'
    ) in result.stderr
    assert "warning: x = 1.5 is a JSON number" in result.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (["--key-env", KEY_VAR], '{"type": "order",\n "orders": [}', "line 2, column"),
        (["--key-env", KEY_VAR], "", "no action on stdin"),
        (["--key-env", KEY_VAR], "[1, 2]", "must be a JSON object"),
        (["--key-env", KEY_VAR], '{"type":"dummy","n":NaN}', "NaN"),
        (["--key-env", KEY_VAR], b'{"type":"\xff"}', "not UTF-8"),
        (["--key-env", KEY_VAR], '{"type":"dummy","n":18446744073709551616}', "msgpack"),
        (["--key-env", KEY_VAR], '{"type":"usdSend","amount":"1"}', "user-signed"),
        ([], DUMMY, "exactly one key source"),
        (["--key-env", KEY_VAR, "--keystore", "k.json"], DUMMY, "exactly one key source"),
        (["--key-env", KEY_VAR, "--password-env", "P"], DUMMY, "only used with --keystore"),
        (["--key-env", "HIP3TERM_TEST_UNSET_VARIABLE"], DUMMY, "is not set"),
        (["--key-env", KEY_VAR, "--vault", "0x1234"], DUMMY, "--vault"),
        (["--key-env", KEY_VAR, "--vault", VAULT[2:]], DUMMY, "--vault"),
        (["--key-env", KEY_VAR, "--nonce", "-1"], DUMMY, "--nonce"),
        (["--key-env", KEY_VAR, "--nonce", str(2**64)], DUMMY, "--nonce"),
        (["--key-env", KEY_VAR, "--expires-after", "soon"], DUMMY, "--expires-after"),
    ],
)
def test_sign_user_error_exits_2_without_traceback(
    args: list[str], stdin: str | bytes, needle: str
) -> None:
    result = run_sign(args, stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_sign_keystore_with_password_env(tmp_path: Path) -> None:
    from eth_account import Account

    path = tmp_path / "agent.json"
    document = Account.encrypt(bytes.fromhex(PY_KEY_HEX), "correct horse")
    path.write_text(json.dumps(document))
    path.chmod(0o600)
    args = ["--keystore", str(path), "--password-env", "HIP3TERM_TEST_PW", "--nonce", "0"]
    result = run_sign(args, ORDER_2, key=None, HIP3TERM_TEST_PW="correct horse")
    assert body_of(result)["signature"]["r"] == (
        "0xd65369825a9df5d80099e513cce430311d7d26ddf477f5b3a33d2806b100d78e"
    )
    assert PY_KEY_HEX not in result.stdout + result.stderr
    wrong = run_sign(args, ORDER_2, key=None, HIP3TERM_TEST_PW="wrong")
    assert wrong.returncode == 2
    assert "wrong password" in wrong.stderr
    assert "Traceback" not in wrong.stderr


# --- the warning walker, in-process -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("4.3370", "4.337"),
        ("100.0", "100"),
        ("+1", "1"),
        ("1e3", "1000"),
        ("1E-2", "0.01"),
        ("007", "7"),
        (".5", "0.5"),
        ("5.", "5"),
        ("-0", "0"),
        ("-0.50", "-0.5"),
    ],
)
def test_action_warnings_names_non_canonical_numbers(value: str, canonical: str) -> None:
    warnings = action_warnings(
        {"type": "order", "orders": [{"t": {"trigger": {"triggerPx": value}}}]}
    )
    assert warnings == [
        f'orders[0].t.trigger.triggerPx = "{value}" is not canonical (the exchange hashes '
        f'"{canonical}"); signed as given'
    ]


@pytest.mark.parametrize(
    "value", ["0", "0.5", "100", "-3", "1670.1", "Gtc", "na", "0x00ab", "", "1.2.3", "e5"]
)
def test_action_warnings_quiet_on_canonical_values(value: str) -> None:
    assert action_warnings({"type": "order", "v": value, "n": 5, "b": True, "z": None}) == []


def test_action_warnings_huge_exponent_is_reported_without_expanding() -> None:
    warnings = action_warnings({"type": "x", "p": "1e999999999"})
    assert warnings == ['p = "1e999999999" is not canonical (it has an exponent); signed as given']


def test_action_warnings_missing_type() -> None:
    assert action_warnings({"orders": []}) == [
        'the action has no "type" string; the exchange will refuse it'
    ]

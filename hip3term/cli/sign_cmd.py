"""`hip3term sign`: sign an L1 action read from stdin and print the request body.

For debugging "User or API Wallet 0x… does not exist" (a signature that recovers to the
wrong address): compare this body with the one your code posts. The action is signed
exactly as given, and every string that would make the exchange hash something else
(a non-canonical number, upper-case hex) is reported on stderr.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import typer

if TYPE_CHECKING:
    from hip3term.keys import SecretKey

_HELP = """\
Sign an L1 action (order, cancel, cancelByCloid, scheduleCancel, updateLeverage, noop, …)
read as JSON on stdin, and print on stdout, as one line of JSON, exactly the body that
would be POSTed to /exchange. Nothing is sent.

\b
  {"action":…,"nonce":N,"signature":{"r":"0x…","s":"0x…","v":27|28},
   "vaultAddress":null|"0x…","expiresAfter":null|MS}

r and s are unpadded hex, as the official Python SDK prints them. The action is signed
as given: its key order and its strings are hashed as they are. A number string that is
not canonical ("2000.0", "4.3370", "+1", "1e3", "007"), an upper-case hex address or
cloid, or a JSON float is signed anyway and reported on stderr, because the exchange
re-serializes such values before checking the signature and then recovers a different,
random-looking signer ("User or API Wallet 0x… does not exist"). The key is never
printed; stderr names the signer's address, to compare with that error. Example:

\b
  echo '{"type":"scheduleCancel"}' | hip3term sign --key-env HIP3TERM_AGENT_KEY --nonce 1
"""

_MAX_U64 = 2**64 - 1
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_NUMBER_LIKE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX_LIKE = re.compile(r"0[xX][0-9a-fA-F]+")
# EIP-712 "user-signed" actions use another signing scheme (PROTOCOL.md 4.7)
_USER_SIGNED = frozenset(
    {
        "usdSend",
        "spotSend",
        "withdraw3",
        "usdClassTransfer",
        "sendAsset",
        "approveAgent",
        "approveBuilderFee",
        "tokenDelegate",
        "userSetAbstraction",
        "convertToMultiSigUser",
    }
)


def _vault_option(value: str | None) -> str | None:
    if value is None:
        return None
    if not _ADDRESS.fullmatch(value):
        raise typer.BadParameter(f"must be 0x followed by 40 hex digits, got {value!r}")
    return value.lower()


NonceOption = Annotated[
    int | None,
    typer.Option(
        "--nonce",
        min=0,
        max=_MAX_U64,
        metavar="N",
        help="The request nonce in milliseconds; it is hashed into the signature and sent "
        "as the body's nonce. Default: the current time in ms. To reproduce a request that "
        "failed, pass the nonce it was sent with.",
    ),
]
VaultOption = Annotated[
    str | None,
    typer.Option(
        "--vault",
        metavar="ADDR",
        callback=_vault_option,
        help="Trade for this vault or sub-account (0x + 40 hex digits): the master account "
        "or its agent signs, and the address is both hashed and sent as vaultAddress. It is "
        "lower-cased in the body (the hash reads its bytes, so case does not change the "
        "signature).",
    ),
]
ExpiresOption = Annotated[
    int | None,
    typer.Option(
        "--expires-after",
        min=0,
        max=_MAX_U64,
        metavar="MS",
        help="Unix time in ms after which the exchange rejects the action; hashed and sent "
        "as expiresAfter. Omitted from the hash (and null in the body) when not given.",
    ),
]
TestnetOption = Annotated[
    bool,
    typer.Option(
        "--testnet",
        help='Sign for testnet (phantom-agent source "b"). Without it the signature is for '
        'mainnet (source "a"); a signature for the other network recovers to a random '
        "address.",
    ),
]
KeyEnvOption = Annotated[
    str | None,
    typer.Option(
        "--key-env",
        metavar="VAR",
        help="Name of an environment variable holding the signing key as 64 hex digits "
        "(0x optional), e.g. HIP3TERM_AGENT_KEY. Give this or --keystore, not both.",
    ),
]
KeystoreOption = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        metavar="FILE",
        dir_okay=False,
        help="Encrypted eth-account keystore holding the signing key (mode 600, see "
        "`hip3term keys`). Give this or --key-env, not both.",
    ),
]
PasswordEnvOption = Annotated[
    str | None,
    typer.Option(
        "--password-env",
        metavar="VAR",
        help="Name of an environment variable holding the keystore password. Needed when "
        "the action is piped in, since stdin is then not a terminal to prompt on.",
    ),
]


def register(app: typer.Typer) -> None:
    """Add the `sign` command to the root app."""
    app.command("sign", help=_HELP, short_help="Sign an action from stdin; print the body.")(sign)


def sign(
    nonce: NonceOption = None,
    vault: VaultOption = None,
    expires_after: ExpiresOption = None,
    testnet: TestnetOption = False,
    key_env: KeyEnvOption = None,
    keystore: KeystoreOption = None,
    password_env: PasswordEnvOption = None,
) -> None:
    """Sign the action on stdin and print the /exchange body."""
    import time

    from hip3term.venue.hyperliquid.signing import signed_body

    _check_key_source(key_env, keystore, password_env)
    action = read_action(sys.stdin.buffer)
    for warning in action_warnings(action):
        typer.echo(f"warning: {warning}", err=True)
    key = _load_key(key_env, keystore, password_env)
    if nonce is None:
        nonce = time.time_ns() // 1_000_000
    body = signed_body(key, action, nonce, vault, expires_after, not testnet)
    network = 'testnet (source "b")' if testnet else 'mainnet (source "a")'
    typer.echo(f"signer: {key.address}, {network}, nonce {nonce}", err=True)
    typer.echo(json.dumps(body, separators=(",", ":")))


def _check_key_source(key_env: str | None, keystore: Path | None, password_env: str | None) -> None:
    from hip3term.errors import KeyLoadError

    if (key_env is None) == (keystore is None):
        raise KeyLoadError("give exactly one key source: --key-env VAR or --keystore FILE")
    if password_env is not None and keystore is None:
        raise KeyLoadError("--password-env is only used with --keystore FILE")


def _load_key(key_env: str | None, keystore: Path | None, password_env: str | None) -> SecretKey:
    from hip3term.keys import load_key_from_env, load_keystore

    if keystore is not None:
        return load_keystore(keystore, password_env=password_env)
    assert key_env is not None  # reason: _check_key_source guarantees exactly one source
    return load_key_from_env(key_env)


def read_action(stream: BinaryIO) -> dict[str, Any]:
    """Parse one JSON object from a binary stream, keeping key order and integer types.

    Raises:
        SigningError: the stream is empty, not JSON, not a JSON object, or a user-signed
            action (another signing scheme).
    """
    from hip3term.errors import SigningError

    if stream.isatty():
        typer.echo("reading the action as JSON from stdin (end with Ctrl-D)", err=True)
    data = stream.read()
    if not data.strip():
        raise SigningError(
            "no action on stdin: pipe one as JSON, e.g. "
            'echo \'{"type":"noop"}\' | hip3term sign --key-env VAR'
        )
    try:
        action = json.loads(
            data, object_pairs_hook=_object_keeping_order, parse_constant=_refuse_constant
        )
    except json.JSONDecodeError as exc:
        raise SigningError(
            f"stdin is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except UnicodeDecodeError:
        raise SigningError("stdin is not valid JSON: it is not UTF-8 text") from None
    if not isinstance(action, dict):
        raise SigningError(f"the action must be a JSON object, not {type(action).__name__}")
    _refuse_user_signed(action)
    return action


def _object_keeping_order(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for name, value in pairs:
        if name in obj:
            typer.echo(
                f'warning: key "{name}" appears twice in one object; JSON keeps the last '
                "value, at the first one's position, and that is what is signed",
                err=True,
            )
        obj[name] = value
    return obj


def _refuse_constant(name: str) -> Any:
    from hip3term.errors import SigningError

    raise SigningError(f"stdin is not valid JSON for the exchange: {name} is not a number")


def _refuse_user_signed(action: dict[str, Any]) -> None:
    from hip3term.errors import SigningError

    kind = action.get("type")
    if kind in _USER_SIGNED or "signatureChainId" in action:
        raise SigningError(
            f"{kind!r} is a user-signed action (EIP-712 HyperliquidTransaction, "
            "PROTOCOL.md 4.7), not an L1 action; hip3term sign only signs L1 actions"
        )


def action_warnings(action: dict[str, Any]) -> list[str]:
    """Everything in `action` that the exchange would hash differently from us.

    One message per non-canonical number string, upper-case hex string or float, each
    naming its JSON path (e.g. `orders[0].p`). The action is still signed as given.
    """
    found = [_warning(path, value) for path, value in _leaves(action, "")]
    if not isinstance(action.get("type"), str):
        found.append('the action has no "type" string; the exchange will refuse it')
    return [text for text in found if text is not None]


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _leaves(item, f"{path}.{name}" if path else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def _warning(path: str, value: Any) -> str | None:
    if isinstance(value, float):
        return (
            f"{path} = {json.dumps(value)} is a JSON number with a fraction or exponent: "
            "msgpack hashes it as a 64-bit float, while the exchange expects a decimal "
            "string or an integer; signed as given"
        )
    if not isinstance(value, str):
        return None
    if _NUMBER_LIKE.fullmatch(value):
        canonical = _canonical_number(value)
        if canonical is None:
            return f'{path} = "{value}" is not canonical (it has an exponent); signed as given'
        if canonical != value:
            return (
                f'{path} = "{value}" is not canonical (the exchange hashes "{canonical}"); '
                "signed as given"
            )
    elif _HEX_LIKE.fullmatch(value):
        lower = "0x" + value[2:].lower()
        if lower != value:
            return (
                f'{path} = "{value}" has upper-case hex (the exchange hashes "{lower}"); '
                "signed as given"
            )
    return None


def _canonical_number(text: str) -> str | None:
    # None when the canonical form would be absurdly long ("1e999999999")
    from hip3term.core.numeric import to_wire

    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and abs(exponent) > 1000:
        return None
    return to_wire(number)

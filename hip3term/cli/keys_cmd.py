"""`hip3term keys new|import|address`: encrypted keystores for the agent (API wallet) key."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from hip3term.keys import SecretKey

_GROUP_HELP = """\
Create, import and inspect encrypted keystores for the agent (API wallet) key.

Two identities are involved, and they are separate settings. The AGENT key signs actions
(orders, cancels); your account approves it once (approveAgent) and it holds no funds.
The ACCOUNT address is your main wallet (or sub-account): queries for balances, positions,
orders and fills must use it, because an agent's own address returns empty results.
These commands only deal with the agent key and print its address, which is the signer
address the exchange recovers from signatures, not the address to query
(PROTOCOL.md section 6).

Keystores are eth-account (Web3 secret storage v3, scrypt) files written with mode 600;
a keystore that group or others can read is refused. Keys and passwords are never
printed, logged or written anywhere else.
"""

_PASSWORD_ENV_HELP = (
    "Name of an environment variable holding the keystore password (for example "
    "HIP3TERM_KEYSTORE_PASSWORD); the name is given, never the password itself, so it does "
    "not land in shell history. Without this option the password is asked for at a hidden "
    "prompt, which needs a terminal on standard input."
)
_KEY_ENV_HELP = (
    "Name of an environment variable holding the agent private key as 64 hex digits "
    "(0x prefix optional), for example HIP3TERM_AGENT_KEY, the name the config uses by "
    "default."
)

_OutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        dir_okay=False,
        help="Keystore file to create (mode 600; missing directories are created, mode 700).",
    ),
]


def _print_stored(key: SecretKey, path: Path) -> None:
    typer.echo(f"address: {key.address}")
    typer.echo(f"keystore: {path}")


def _read_key(key_env: str | None) -> SecretKey:
    from hip3term.keys import SecretKey, load_key_from_env

    if key_env is not None:
        return load_key_from_env(key_env)
    if sys.stdin.isatty():
        text = getpass.getpass("Agent private key, 64 hex digits (input hidden): ")
        return SecretKey.from_hex(text, source="the key typed at the prompt")
    text = sys.stdin.read(4096).strip()
    from hip3term.errors import KeyLoadError

    if not text:
        raise KeyLoadError("no key given: standard input was empty and --key-env was not set")
    return SecretKey.from_hex(text, source="the key read from standard input")


def _new(
    out: _OutOption,
    password_env: str | None = typer.Option(None, "--password-env", help=_PASSWORD_ENV_HELP),
    force: bool = typer.Option(
        False, "--force", help="Replace the file if it exists (the old key is lost)."
    ),
) -> None:
    from hip3term.keys import new_key, refuse_existing, resolve_password, write_keystore

    if not force:
        refuse_existing(out)
    password = resolve_password(
        password_env=password_env, purpose="password for the new keystore", confirm=True
    )
    key = new_key()
    write_keystore(key, out, password, overwrite=force)
    _print_stored(key, out)


def _import(
    out: _OutOption,
    key_env: str | None = typer.Option(
        None,
        "--key-env",
        help=_KEY_ENV_HELP + " Without it the key is read from a hidden prompt when standard "
        "input is a terminal, or from standard input otherwise (then the password must come "
        "from --password-env).",
    ),
    password_env: str | None = typer.Option(None, "--password-env", help=_PASSWORD_ENV_HELP),
    force: bool = typer.Option(False, "--force", help="Replace the file if it exists."),
) -> None:
    from hip3term.keys import refuse_existing, resolve_password, write_keystore

    if not force:
        refuse_existing(out)
    key = _read_key(key_env)
    password = resolve_password(
        password_env=password_env, purpose="password for the new keystore", confirm=True
    )
    write_keystore(key, out, password, overwrite=force)
    _print_stored(key, out)


def _address(
    keystore: Annotated[
        Path | None,
        typer.Option(
            "--keystore", dir_okay=False, help="Keystore file to decrypt (must be mode 600)."
        ),
    ] = None,
    password_env: str | None = typer.Option(None, "--password-env", help=_PASSWORD_ENV_HELP),
    key_env: str | None = typer.Option(None, "--key-env", help=_KEY_ENV_HELP),
) -> None:
    from hip3term.errors import KeyLoadError
    from hip3term.keys import load_key_from_env, load_keystore

    if (keystore is None) == (key_env is None):
        raise KeyLoadError("give exactly one of --keystore FILE or --key-env VAR")
    if keystore is not None:
        key = load_keystore(keystore, password_env=password_env)
    else:
        assert key_env is not None  # by the check above
        key = load_key_from_env(key_env)
    typer.echo(key.address)


def register(app: typer.Typer) -> None:
    """Add the `keys` command group to the root app."""
    keys_app = typer.Typer(
        name="keys",
        help=_GROUP_HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    keys_app.command(
        "new",
        help="Create a fresh random agent key in an encrypted keystore. Prints only the new "
        "agent address and the keystore path; approve that address as an API wallet from "
        "your account before trading with it.",
    )(_new)
    keys_app.command(
        "import",
        help="Encrypt an existing agent private key into a keystore. The key comes from "
        "--key-env VAR, else from a hidden prompt (terminal), else from standard input "
        "(piped). Prints only the agent address and the keystore path.",
    )(_import)
    keys_app.command(
        "address",
        help="Print the address of an agent key (from --keystore FILE or --key-env VAR). "
        "This is the signer address the exchange recovers from signatures and the one to "
        "approve with approveAgent; it is not the account address that queries use.",
    )(_address)
    app.add_typer(keys_app, name="keys", short_help="Encrypted keystores and addresses.")

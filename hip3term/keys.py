"""Private keys: a redacting wrapper and the ways to load, create and store one.

A `SecretKey` never shows its material: repr, str and format give the address only. The
raw bytes are handed out by `secret_bytes()` to the keystore encryption and nowhere else.

Keys live in an eth-account keystore (Web3 secret storage v3, scrypt; file mode 600) or
in an environment variable. The key loaded here is the *agent* (API wallet) key: it signs.
The *account* address that queries use is a separate setting (`parse_address`), because an
agent's own address returns empty results from the info endpoint (PROTOCOL.md section 6).

Every error is a `KeyLoadError` whose message names the file or variable but never the key
or the password.
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import json
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import Any

from coincurve import PrivateKey
from Crypto.Hash import keccak

from hip3term.errors import KeyLoadError

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_KEYSTORE_MAX_BYTES = 64 * 1024  # a v3 keystore is about 500 bytes


def address_of_public_key(uncompressed: bytes) -> str:
    """Ethereum address (lower-case 0x hex) of a 65-byte uncompressed public key."""
    digest = keccak.new(digest_bits=256, data=uncompressed[1:]).digest()
    return "0x" + digest[-20:].hex()


class SecretKey:
    """A secp256k1 private key whose material never appears in repr, str or logs."""

    __slots__ = ("_address", "_key")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32 or not 0 < int.from_bytes(raw, "big") < _SECP256K1_N:
            raise KeyLoadError("a private key must be 32 bytes in the secp256k1 range")
        self._key = PrivateKey(raw)
        self._address = address_of_public_key(self._key.public_key.format(compressed=False))

    @classmethod
    def from_hex(cls, text: str, *, source: str = "the key") -> SecretKey:
        """Parse a 64-hex-digit key (with or without 0x); errors never echo the input."""
        body = text.strip()
        if body[:2] in ("0x", "0X"):
            body = body[2:]
        if len(body) != 64:
            raise KeyLoadError(
                f"{source} must be 64 hexadecimal digits (optionally prefixed by 0x); "
                f"got {len(body)} characters"
            )
        try:
            raw = bytes.fromhex(body)
        except ValueError:
            raise KeyLoadError(f"{source} is not hexadecimal") from None
        return cls(raw)

    @property
    def address(self) -> str:
        """The key's Ethereum address, lower-case 0x hex."""
        return self._address

    @property
    def signer(self) -> PrivateKey:
        """The coincurve key object used by the signer (hot path)."""
        return self._key

    def secret_bytes(self) -> bytes:
        """The raw 32 key bytes (for keystore encryption only)."""
        return self._key.secret

    def __repr__(self) -> str:
        return f"SecretKey(address={self._address}, secret=<redacted>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("SecretKey cannot be pickled")


def load_key_from_env(var: str) -> SecretKey:
    """Load a hex private key from the environment variable `var`."""
    value = os.environ.get(var)
    if value is None or not value.strip():
        raise KeyLoadError(f"environment variable {var} is not set (it should hold a hex key)")
    return SecretKey.from_hex(value, source=f"environment variable {var}")


def parse_address(text: str, *, source: str = "the address") -> str:
    """Validate an Ethereum address (0x + 40 hex digits) and return it in lower case.

    Used for the *account* address (the one queries use), which is a separate setting from
    the agent key that signs: see PROTOCOL.md section 6.

    Raises:
        KeyLoadError: `text` is not an address.
    """
    body = text.strip()
    if body[:2] not in ("0x", "0X") or len(body) != 42:
        raise KeyLoadError(f"{source} must be 0x followed by 40 hexadecimal digits")
    try:
        bytes.fromhex(body[2:])
    except ValueError:
        raise KeyLoadError(f"{source} must be 0x followed by 40 hexadecimal digits") from None
    return "0x" + body[2:].lower()


def refuse_existing(path: Path) -> None:
    """Raise `KeyLoadError` if `path` exists (checked before asking for any password)."""
    if path.exists() or path.is_symlink():
        raise KeyLoadError(f"{path} already exists; pass --force to replace it")


def new_key() -> SecretKey:
    """A fresh random private key from the operating system's CSPRNG (`os.urandom`)."""
    while True:
        try:
            return SecretKey(os.urandom(32))
        except KeyLoadError:  # out of the curve's range: probability ~2^-128, draw again
            continue


def resolve_password(
    *,
    password: str | None = None,
    password_env: str | None = None,
    purpose: str = "keystore password",
    confirm: bool = False,
) -> str:
    """Find the keystore password: the argument, else an environment variable, else a prompt.

    Args:
        password: used as is when given.
        password_env: name of an environment variable holding the password; an error if
            that variable is unset or empty.
        purpose: words for the prompt (e.g. "password for the new keystore").
        confirm: prompt twice and require both entries to match (for new keystores).

    Returns:
        The password. It is never logged or echoed.

    Raises:
        KeyLoadError: the variable is unset, no terminal is available for the prompt, or
            the two entries differ.
    """
    if password is not None:
        return password
    if password_env is not None:
        value = os.environ.get(password_env)
        if value is None:
            raise KeyLoadError(
                f"environment variable {password_env} is not set (it should hold the "
                f"{purpose})"
            )
        if not value:
            raise KeyLoadError(f"environment variable {password_env} is empty")
        return value
    if not sys.stdin.isatty():
        raise KeyLoadError(
            f"no {purpose} given and standard input is not a terminal, so it cannot be "
            "asked for; put it in an environment variable and pass --password-env VAR"
        )
    first = getpass.getpass(f"{purpose.capitalize()} (input hidden): ")
    if not first:
        raise KeyLoadError(f"the {purpose} must not be empty")
    if confirm and getpass.getpass(f"Repeat the {purpose}: ") != first:
        raise KeyLoadError(f"the two {purpose} entries differ; nothing was written")
    return first


def load_keystore(
    path: Path, *, password: str | None = None, password_env: str | None = None
) -> SecretKey:
    """Decrypt an eth-account (Web3 secret storage v3) keystore file.

    The file must belong to its owner alone (mode 600 or stricter): a keystore that group
    or others may read is refused before any password is asked for. The password comes
    from `password`, else from the environment variable named by `password_env`, else
    from a hidden prompt (only when standard input is a terminal).

    Raises:
        KeyLoadError: the file is missing, too permissive, not a keystore, or the password
            is wrong. Messages name the file but never contain key material or passwords.
    """
    document = _read_keystore_document(path)
    secret = resolve_password(
        password=password, password_env=password_env, purpose=f"password for keystore {path}"
    )
    from eth_account import Account  # heavy import: only when a keystore is used

    try:
        raw = bytes(Account.decrypt(document, secret))
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise KeyLoadError(f"wrong password for keystore {path}") from None
        raise KeyLoadError(_not_a_keystore(path, "its fields cannot be decoded")) from None
    except (KeyError, TypeError, NotImplementedError):
        raise KeyLoadError(_not_a_keystore(path, "its fields cannot be decoded")) from None
    try:
        key = SecretKey(raw)
    except KeyLoadError:
        raise KeyLoadError(_not_a_keystore(path, "it decrypts to an invalid key")) from None
    stored = document.get("address")
    if isinstance(stored, str) and stored.lower().removeprefix("0x") != key.address[2:]:
        raise KeyLoadError(
            f"keystore {path} decrypts to a key whose address differs from its 'address' "
            "field; the file is corrupt or was edited"
        )
    return key


def write_keystore(
    key: SecretKey,
    path: Path,
    password: str,
    *,
    overwrite: bool = False,
    kdf_iterations: int | None = None,
) -> None:
    """Encrypt `key` with `password` into an eth-account keystore at `path`, mode 600.

    The file is created with mode 600 from the start (never readable by others, not even
    for an instant), fsynced, and moved into place atomically: a reader sees either no
    file or the whole keystore. Missing parent directories are created with mode 700.

    Args:
        key: the key to store.
        path: destination file.
        password: the encryption password; must not be empty.
        overwrite: replace an existing file (otherwise an existing file is an error).
        kdf_iterations: scrypt work factor; the default is eth-account's (n = 2**18,
            about 0.8 s and 256 MB). Lower it only in tests.

    Raises:
        KeyLoadError: the password is empty, the file exists, or it cannot be written.
    """
    if not password:
        raise KeyLoadError("the keystore password must not be empty")
    if not overwrite:
        refuse_existing(path)
    from eth_account import Account  # heavy import: only when a keystore is written

    document = Account.encrypt(key.secret_bytes(), password, iterations=kdf_iterations)
    data = json.dumps(document, indent=2).encode() + b"\n"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private_file(path, data, overwrite=overwrite)
    except _DestinationExistsError:
        raise KeyLoadError(f"{path} already exists; pass --force to replace it") from None
    except OSError as exc:
        raise KeyLoadError(f"cannot write keystore {path}: {exc.strerror or exc}") from None


class _DestinationExistsError(Exception):
    """The destination appeared while the keystore was being written."""


def _write_private_file(path: Path, data: bytes, *, overwrite: bool) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # exactly 600 whatever the umask
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_directory(path.parent)


def _link_no_clobber(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)  # atomic, and fails if `path` appeared meanwhile
    except FileExistsError:
        raise _DestinationExistsError from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        # a file system without hard links: check, then rename (a tiny race, no leak)
        if path.exists():
            raise _DestinationExistsError from None
        os.replace(tmp, path)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _not_a_keystore(path: Path, why: str) -> str:
    return f"{path} is not an eth-account keystore ({why})"


def _read_keystore_document(path: Path) -> dict[str, Any]:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise KeyLoadError(f"keystore {path} does not exist") from None
    except OSError as exc:
        raise KeyLoadError(f"cannot open keystore {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)  # check the file we opened, not the name
        if not stat.S_ISREG(info.st_mode):
            raise KeyLoadError(f"keystore {path} is not a regular file")
        _check_private_mode(path, info.st_mode)
        raw = os.read(fd, _KEYSTORE_MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > _KEYSTORE_MAX_BYTES:
        raise KeyLoadError(_not_a_keystore(path, "the file is far too large"))
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise KeyLoadError(_not_a_keystore(path, "it is not JSON")) from None
    if not isinstance(document, dict):
        raise KeyLoadError(_not_a_keystore(path, "it is not a JSON object"))
    crypto = document.get("crypto", document.get("Crypto"))
    if document.get("version") != 3 or not isinstance(crypto, dict):
        raise KeyLoadError(_not_a_keystore(path, "no version 3 'crypto' section"))
    return document


def _check_private_mode(path: Path, mode: int) -> None:
    if os.name != "posix" or not mode & 0o077:
        return
    what = "readable" if mode & 0o044 else "accessible"
    raise KeyLoadError(
        f"keystore {path} is {what} by group/others (mode {stat.S_IMODE(mode):04o}); "
        f"run chmod 600 {path}"
    )

import getpass
import io
import json
import os
import pickle
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from hip3term.errors import KeyLoadError
from hip3term.keys import (
    SecretKey,
    load_key_from_env,
    load_keystore,
    new_key,
    parse_address,
    resolve_password,
    write_keystore,
)

# A test key; its address is computed by eth-account (an independent implementation).
RAW = bytes(range(1, 33))
HEX = RAW.hex()
ADDRESS = Account.from_key(RAW).address.lower()
PASSWORD = "correct horse battery staple"
FAST = 2  # scrypt work factor for tests; the real default is 2**18


class FakeStdin(io.StringIO):
    def __init__(self, text: str = "", *, tty: bool) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.fixture
def keystore(tmp_path: Path) -> Path:
    path = tmp_path / "agent.json"
    write_keystore(SecretKey(RAW), path, PASSWORD, kdf_iterations=FAST)
    return path


@pytest.fixture
def no_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", FakeStdin(tty=False))


@pytest.fixture
def zero_umask() -> Iterator[None]:
    old = os.umask(0)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- SecretKey (existing behaviour) ---------------------------------------------------


@pytest.mark.parametrize("text", [HEX, "0x" + HEX, "0X" + HEX.upper(), f"  {HEX}\n"])
def test_secret_key_from_hex_accepts_forms(text: str) -> None:
    key = SecretKey.from_hex(text)
    assert key.address == ADDRESS
    assert key.secret_bytes() == RAW


def test_secret_key_never_shows_material() -> None:
    key = SecretKey(RAW)
    for shown in (repr(key), str(key), f"{key}", f"{key:>80}", "%s" % key):  # noqa: UP031
        assert HEX not in shown.lower()
        assert ADDRESS in shown
    with pytest.raises(TypeError):
        pickle.dumps(key)


@pytest.mark.parametrize("text", [HEX[:-2], HEX + "00", HEX[:-1] + "g"])
def test_secret_key_bad_hex_never_echoed(text: str) -> None:
    with pytest.raises(KeyLoadError) as info:
        SecretKey.from_hex(text)
    assert HEX[:16] not in str(info.value)


@pytest.mark.parametrize("raw", [bytes(32), b"\xff" * 32, RAW[:31]])
def test_secret_key_out_of_range(raw: bytes) -> None:
    with pytest.raises(KeyLoadError, match="secp256k1 range"):
        SecretKey(raw)


def test_load_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIP3_TEST_KEY", "0x" + HEX)
    assert load_key_from_env("HIP3_TEST_KEY").address == ADDRESS
    monkeypatch.delenv("HIP3_TEST_KEY")
    with pytest.raises(KeyLoadError, match="HIP3_TEST_KEY is not set"):
        load_key_from_env("HIP3_TEST_KEY")


# --- new_key, parse_address -----------------------------------------------------------


def test_new_key_is_random_and_valid() -> None:
    first, second = new_key(), new_key()
    assert first.secret_bytes() != second.secret_bytes()
    assert first.address == Account.from_key(first.secret_bytes()).address.lower()


def test_parse_address_normalises_case() -> None:
    checksummed = Account.from_key(RAW).address
    assert parse_address(checksummed) == ADDRESS
    assert parse_address(f" {ADDRESS.upper().replace('0X', '0x')} ") == ADDRESS


@pytest.mark.parametrize("text", ["", ADDRESS[2:], ADDRESS[:-1], ADDRESS[:-1] + "z", HEX])
def test_parse_address_rejects_non_addresses(text: str) -> None:
    with pytest.raises(KeyLoadError, match="the account address must be 0x"):
        parse_address(text, source="the account address")


# --- write_keystore -------------------------------------------------------------------


def test_keystore_round_trip(keystore: Path) -> None:
    key = load_keystore(keystore, password=PASSWORD)
    assert key.address == ADDRESS
    assert key.secret_bytes() == RAW


def test_keystore_is_eth_account_format(keystore: Path) -> None:
    document = json.loads(keystore.read_text())
    assert document["version"] == 3
    assert document["crypto"]["kdf"] == "scrypt"
    assert bytes(Account.decrypt(document, PASSWORD)) == RAW
    assert HEX not in keystore.read_text().lower()


def test_keystore_written_by_eth_account_loads(tmp_path: Path) -> None:
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps(Account.encrypt(RAW, PASSWORD, kdf="pbkdf2", iterations=2)))
    path.chmod(0o600)
    assert load_keystore(path, password=PASSWORD).address == ADDRESS


def test_keystore_default_kdf_is_full_strength(tmp_path: Path) -> None:
    path = tmp_path / "strong.json"
    write_keystore(SecretKey(RAW), path, PASSWORD)
    params = json.loads(path.read_text())["crypto"]["kdfparams"]
    assert params["n"] == 2**18


def test_keystore_mode_600_despite_zero_umask(tmp_path: Path, zero_umask: None) -> None:
    path = tmp_path / "deep" / "er" / "agent.json"
    write_keystore(SecretKey(RAW), path, PASSWORD, kdf_iterations=FAST)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700


def test_keystore_never_world_readable_while_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Record every file creation and the mode of the temporary file when it is published.
    created: list[tuple[int, int]] = []
    published: list[int] = []
    real_open, real_link = os.open, os.link

    def spy_open(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if flags & os.O_CREAT:
            created.append((flags, mode))
        return real_open(path, flags, mode, **kw)

    def spy_link(src: Any, dst: Any, **kw: Any) -> None:
        published.append(stat.S_IMODE(os.stat(src).st_mode))
        real_link(src, dst, **kw)

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "link", spy_link)
    write_keystore(SecretKey(RAW), tmp_path / "agent.json", PASSWORD, kdf_iterations=FAST)
    assert created
    assert all(mode == 0o600 and flags & os.O_EXCL for flags, mode in created)
    assert published == [0o600]


def test_keystore_leaves_no_temporary_file(keystore: Path) -> None:
    assert [p.name for p in keystore.parent.iterdir()] == [keystore.name]


def test_keystore_refuses_to_overwrite(keystore: Path) -> None:
    before = keystore.read_bytes()
    with pytest.raises(KeyLoadError, match="already exists; pass --force"):
        write_keystore(new_key(), keystore, PASSWORD, kdf_iterations=FAST)
    assert keystore.read_bytes() == before


def test_keystore_overwrite_when_asked(keystore: Path) -> None:
    other = new_key()
    write_keystore(other, keystore, "another password", overwrite=True, kdf_iterations=FAST)
    assert load_keystore(keystore, password="another password").address == other.address
    assert _mode(keystore) == 0o600
    assert [p.name for p in keystore.parent.iterdir()] == [keystore.name]


def test_keystore_refuses_empty_password(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match="must not be empty"):
        write_keystore(SecretKey(RAW), tmp_path / "k.json", "", kdf_iterations=FAST)
    assert not (tmp_path / "k.json").exists()


def test_keystore_unwritable_destination(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(KeyLoadError, match="cannot write keystore"):
        write_keystore(SecretKey(RAW), tmp_path / "file" / "k.json", PASSWORD, kdf_iterations=2)


# --- load_keystore refusals -----------------------------------------------------------


def test_load_missing_keystore(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match="does not exist"):
        load_keystore(tmp_path / "nope.json", password=PASSWORD)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o601, 0o610])
def test_load_refuses_group_or_other_permissions(keystore: Path, mode: int) -> None:
    keystore.chmod(mode)
    with pytest.raises(KeyLoadError) as info:
        load_keystore(keystore, password=PASSWORD)
    message = str(info.value)
    assert f"keystore {keystore} is " in message
    assert f"by group/others (mode {mode:04o}); run chmod 600 {keystore}" in message


def test_load_permission_message_exact_for_0644(keystore: Path) -> None:
    keystore.chmod(0o644)
    with pytest.raises(KeyLoadError) as info:
        load_keystore(keystore, password=PASSWORD)
    assert str(info.value) == (
        f"keystore {keystore} is readable by group/others (mode 0644); run chmod 600 {keystore}"
    )


def test_load_accepts_owner_read_only(keystore: Path) -> None:
    keystore.chmod(0o400)
    assert load_keystore(keystore, password=PASSWORD).address == ADDRESS


def test_load_permissions_checked_before_password(
    keystore: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keystore.chmod(0o644)
    monkeypatch.delenv("HIP3_TEST_PW", raising=False)
    with pytest.raises(KeyLoadError, match="chmod 600"):
        load_keystore(keystore, password_env="HIP3_TEST_PW")


def test_load_wrong_password(keystore: Path) -> None:
    with pytest.raises(KeyLoadError) as info:
        load_keystore(keystore, password="not the password")
    assert str(info.value) == f"wrong password for keystore {keystore}"
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[1, 2]",
        '{"a": 1}',
        '{"version": 3}',
        '{"version": 4, "crypto": {}}',
        '{"version": 3, "crypto": {"kdf": "argon9"}}',
        '{"version": 3, "crypto": {"kdf": "scrypt", "kdfparams": {}}}',
        "\xff\xfe",
    ],
)
def test_load_non_keystore(tmp_path: Path, content: str) -> None:
    path = tmp_path / "k.json"
    path.write_text(content, encoding="latin-1")
    path.chmod(0o600)
    with pytest.raises(KeyLoadError, match="is not an eth-account keystore"):
        load_keystore(path, password=PASSWORD)


def test_load_huge_file_is_not_a_keystore(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.write_text(" " * 100_000)
    path.chmod(0o600)
    with pytest.raises(KeyLoadError, match="far too large"):
        load_keystore(path, password=PASSWORD)


def test_load_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match="not a regular file"):
        load_keystore(tmp_path, password=PASSWORD)


def test_load_address_field_mismatch(keystore: Path) -> None:
    document = json.loads(keystore.read_text())
    document["address"] = "00" * 20
    keystore.write_text(json.dumps(document))
    with pytest.raises(KeyLoadError, match="differs from its 'address' field"):
        load_keystore(keystore, password=PASSWORD)


# --- password sources -----------------------------------------------------------------


def test_password_from_env(keystore: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIP3_TEST_PW", PASSWORD)
    assert load_keystore(keystore, password_env="HIP3_TEST_PW").address == ADDRESS


def test_explicit_password_wins_over_env(keystore: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIP3_TEST_PW", "something else")
    key = load_keystore(keystore, password=PASSWORD, password_env="HIP3_TEST_PW")
    assert key.address == ADDRESS


def test_password_env_unset(keystore: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HIP3_TEST_PW", raising=False)
    with pytest.raises(KeyLoadError, match="environment variable HIP3_TEST_PW is not set"):
        load_keystore(keystore, password_env="HIP3_TEST_PW")


def test_password_env_empty(keystore: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIP3_TEST_PW", "")
    with pytest.raises(KeyLoadError, match="HIP3_TEST_PW is empty"):
        load_keystore(keystore, password_env="HIP3_TEST_PW")


def test_password_without_terminal_says_password_env(keystore: Path, no_tty: None) -> None:
    with pytest.raises(KeyLoadError, match=r"not a terminal.*--password-env"):
        load_keystore(keystore)


def test_password_prompt_on_terminal(keystore: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return PASSWORD

    monkeypatch.setattr("sys.stdin", FakeStdin(tty=True))
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    assert load_keystore(keystore).address == ADDRESS
    assert len(prompts) == 1
    assert str(keystore) in prompts[0]


@pytest.mark.parametrize(("answers", "ok"), [(["pw1", "pw1"], True), (["pw1", "pw2"], False)])
def test_password_prompt_confirmation(
    monkeypatch: pytest.MonkeyPatch, answers: list[str], ok: bool
) -> None:
    replies = iter(answers)
    monkeypatch.setattr("sys.stdin", FakeStdin(tty=True))
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(replies))
    if ok:
        assert resolve_password(confirm=True) == "pw1"
    else:
        with pytest.raises(KeyLoadError, match="differ") as info:
            resolve_password(confirm=True)
        assert "pw1" not in str(info.value)
        assert "pw2" not in str(info.value)


def test_password_prompt_empty_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", FakeStdin(tty=True))
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": "")
    with pytest.raises(KeyLoadError, match="must not be empty"):
        resolve_password()


def test_errors_never_contain_secrets(keystore: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    messages = []
    monkeypatch.setenv("HIP3_TEST_PW", PASSWORD + "x")
    attempts: list[Callable[[], object]] = [
        lambda: load_keystore(keystore, password_env="HIP3_TEST_PW"),
        lambda: load_keystore(keystore, password=PASSWORD[::-1]),
        lambda: SecretKey.from_hex(HEX[:-1] + "q"),
    ]
    for attempt in attempts:
        with pytest.raises(KeyLoadError) as info:
            attempt()
        messages.append(str(info.value))
    for message in messages:
        assert PASSWORD not in message
        assert PASSWORD[::-1] not in message
        assert HEX[:-1] not in message.lower()

import functools
import getpass
import io
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

import hip3term.keys
from hip3term.cli import main
from hip3term.keys import SecretKey, load_keystore, write_keystore

RAW = bytes(range(7, 39))
HEX = RAW.hex()
ADDRESS = Account.from_key(RAW).address.lower()  # computed by eth-account, not by us
PASSWORD = "keystore-pass-for-cli-tests"


class FakeStdin(io.StringIO):
    def __init__(self, text: str = "", *, tty: bool) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    # The commands use eth-account's full scrypt (0.8 s each); a low work factor keeps
    # these tests quick. test_keys.py checks the full-strength default.
    fast = functools.partial(write_keystore, kdf_iterations=2)
    monkeypatch.setattr(hip3term.keys, "write_keystore", fast)


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIP3_TEST_KEY", "0x" + HEX)
    monkeypatch.setenv("HIP3_TEST_PW", PASSWORD)


class Cli:
    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        self.prompts: list[str] = []

    def __call__(
        self,
        *args: str,
        stdin: str = "",
        tty: bool = False,
        answers: tuple[str, ...] = (),
    ) -> Result:
        replies = iter(answers)

        def fake_getpass(prompt: str = "") -> str:
            self.prompts.append(prompt)
            return next(replies)

        self.monkeypatch.setattr(sys, "argv", ["hip3term", *args])
        self.monkeypatch.setattr(sys, "stdin", FakeStdin(stdin, tty=tty))
        self.monkeypatch.setattr(getpass, "getpass", fake_getpass)
        self.capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(monkeypatch, capsys)


def _assert_key_error(result: Result, fragment: str) -> None:
    assert result.code == 2
    assert result.err.startswith("hip3term: key error: ")
    assert fragment in result.err
    assert "Traceback" not in result.err
    assert result.out == ""


# --- keys new ---------------------------------------------------------------------------


def test_keys_new_prints_address_and_path_only(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "agent.json"
    result = cli("keys", "new", "--out", str(out), "--password-env", "HIP3_TEST_PW")
    assert result.code == 0
    lines = result.out.splitlines()
    assert len(lines) == 2
    assert lines[1] == f"keystore: {out}"
    key = load_keystore(out, password=PASSWORD)
    assert lines[0] == f"address: {key.address}"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert key.secret_bytes().hex() not in result.out + result.err


def test_keys_new_refuses_existing_file_unless_forced(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "agent.json"
    write_keystore(SecretKey(RAW), out, PASSWORD, kdf_iterations=2)
    before = out.read_bytes()
    result = cli("keys", "new", "--out", str(out), "--password-env", "HIP3_TEST_PW")
    _assert_key_error(result, "already exists; pass --force")
    assert out.read_bytes() == before
    result = cli("keys", "new", "--out", str(out), "--password-env", "HIP3_TEST_PW", "--force")
    assert result.code == 0
    assert load_keystore(out, password=PASSWORD).address != ADDRESS


def test_keys_new_without_password_source_or_terminal(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "agent.json"
    result = cli("keys", "new", "--out", str(out))
    _assert_key_error(result, "--password-env")
    assert not out.exists()


def test_keys_new_prompts_twice_on_terminal(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "agent.json"
    result = cli("keys", "new", "--out", str(out), tty=True, answers=("pw-1", "pw-1"))
    assert result.code == 0
    assert len(cli.prompts) == 2
    assert load_keystore(out, password="pw-1").address in result.out


def test_keys_new_prompt_mismatch_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "agent.json"
    result = cli("keys", "new", "--out", str(out), tty=True, answers=("pw-1", "pw-2"))
    _assert_key_error(result, "differ")
    assert not out.exists()


def test_keys_new_unset_password_env(cli: Cli, tmp_path: Path) -> None:
    result = cli("keys", "new", "--out", str(tmp_path / "a.json"), "--password-env", "NOPE_X")
    _assert_key_error(result, "environment variable NOPE_X is not set")


# --- keys import ------------------------------------------------------------------------


def test_keys_import_from_env(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "agent.json"
    result = cli(
        "keys", "import", "--out", str(out), "--key-env", "HIP3_TEST_KEY",
        "--password-env", "HIP3_TEST_PW",
    )  # fmt: skip
    assert result.code == 0
    assert result.out == f"address: {ADDRESS}\nkeystore: {out}\n"
    assert load_keystore(out, password=PASSWORD).secret_bytes() == RAW


def test_keys_import_from_piped_stdin(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "agent.json"
    result = cli(
        "keys", "import", "--out", str(out), "--password-env", "HIP3_TEST_PW",
        stdin=f"0x{HEX}\n",
    )  # fmt: skip
    assert result.code == 0
    assert load_keystore(out, password=PASSWORD).address == ADDRESS


def test_keys_import_from_hidden_prompt(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "agent.json"
    result = cli(
        "keys", "import", "--out", str(out), tty=True, answers=(HEX, "pw-3", "pw-3")
    )
    assert result.code == 0
    assert len(cli.prompts) == 3
    assert "hidden" in cli.prompts[0]
    assert load_keystore(out, password="pw-3").address == ADDRESS


def test_keys_import_piped_key_needs_password_env(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "agent.json"
    result = cli("keys", "import", "--out", str(out), stdin=HEX)
    _assert_key_error(result, "--password-env")
    assert not out.exists()


def test_keys_import_empty_stdin(cli: Cli, tmp_path: Path) -> None:
    result = cli(
        "keys", "import", "--out", str(tmp_path / "a.json"), "--password-env", "HIP3_TEST_PW"
    )
    _assert_key_error(result, "standard input was empty")


@pytest.mark.parametrize("bad", [HEX[:-2], HEX[:-1] + "x"])
def test_keys_import_bad_key_is_not_echoed(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("HIP3_TEST_KEY", bad)
    out = tmp_path / "agent.json"
    result = cli(
        "keys", "import", "--out", str(out), "--key-env", "HIP3_TEST_KEY",
        "--password-env", "HIP3_TEST_PW",
    )  # fmt: skip
    _assert_key_error(result, "environment variable HIP3_TEST_KEY")
    assert HEX[:40] not in result.err
    assert not out.exists()


def test_keys_import_refuses_existing_before_reading_key(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "agent.json"
    out.write_text("{}")
    result = cli("keys", "import", "--out", str(out), tty=True, answers=())
    _assert_key_error(result, "already exists")
    assert cli.prompts == []


# --- keys address -----------------------------------------------------------------------


def test_keys_address_from_env(cli: Cli) -> None:
    result = cli("keys", "address", "--key-env", "HIP3_TEST_KEY")
    assert result.code == 0
    assert result.out == ADDRESS + "\n"


def test_keys_address_from_keystore(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    write_keystore(SecretKey(RAW), path, PASSWORD, kdf_iterations=2)
    result = cli("keys", "address", "--keystore", str(path), "--password-env", "HIP3_TEST_PW")
    assert result.code == 0
    assert result.out == ADDRESS + "\n"


def test_keys_address_keystore_readable_by_others(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    write_keystore(SecretKey(RAW), path, PASSWORD, kdf_iterations=2)
    path.chmod(0o644)
    result = cli("keys", "address", "--keystore", str(path), "--password-env", "HIP3_TEST_PW")
    _assert_key_error(result, f"(mode 0644); run chmod 600 {path}")


def test_keys_address_wrong_password(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "agent.json"
    write_keystore(SecretKey(RAW), path, PASSWORD, kdf_iterations=2)
    monkeypatch.setenv("HIP3_TEST_PW", "guess-123")
    result = cli("keys", "address", "--keystore", str(path), "--password-env", "HIP3_TEST_PW")
    _assert_key_error(result, "wrong password")
    assert "guess-123" not in result.err


@pytest.mark.parametrize(
    "args",
    [(), ("--keystore", "x.json", "--key-env", "HIP3_TEST_KEY")],
)
def test_keys_address_needs_exactly_one_source(cli: Cli, args: tuple[str, ...]) -> None:
    _assert_key_error(cli("keys", "address", *args), "exactly one of --keystore")


# --- help -------------------------------------------------------------------------------


def test_keys_help_explains_agent_and_account(cli: Cli) -> None:
    result = cli("keys", "--help")
    assert result.code == 0
    text = " ".join(result.out.split())
    assert "AGENT key signs" in text
    assert "ACCOUNT address" in text
    assert "queries" in text


def test_keys_import_help_names_key_sources(cli: Cli) -> None:
    text = " ".join(cli("keys", "import", "--help").out.split())
    assert "--key-env" in text
    assert "hidden prompt" in text
    assert "standard input" in text

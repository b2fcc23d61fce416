"""The real CLI, run as a subprocess with a known key, never shows or writes that key.

Each scenario runs `python -m hip3term ...` with HOME, TMPDIR, the XDG directories and the
working directory all inside a fresh temporary directory, then checks stdout, stderr and
every file under that directory. Only the encrypted keystore may hold the key, encrypted:
its raw text must not contain the key in any form either.
"""

import base64
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from hip3term.keys import new_key, write_keystore

KEY = new_key()  # a fresh key per run, so that no match can be a coincidence
RAW = KEY.secret_bytes()
HEX = RAW.hex()
PASSWORD = "Pw-" + secrets.token_hex(12)
WRONG_PASSWORD = "Guess-" + secrets.token_hex(12)


@dataclass
class Run:
    code: int
    out: bytes
    err: bytes


def _forms(secret: bytes | str) -> list[bytes]:
    """The byte strings whose presence means `secret` leaked (compared case-insensitively)."""
    if isinstance(secret, str):
        return [secret.lower().encode()]
    encodings = (base64.b64encode(secret), base64.urlsafe_b64encode(secret))
    return [secret.hex().encode(), secret, *(e.rstrip(b"=").lower() for e in encodings)]


def leaks(blob: bytes, *extra: str) -> list[str]:
    """Names of the secrets found in `blob`: key hex (any case, 0x or not), raw, base64."""
    lowered = blob.lower()
    found = []
    named: list[tuple[str, bytes | str]] = [
        ("private key", RAW),
        ("password", PASSWORD),
        ("wrong password", WRONG_PASSWORD),
    ]
    named += [(f"secret {text[:6]}...", text) for text in extra]
    for name, secret in named:
        if any(form in lowered or form in blob for form in _forms(secret)):
            found.append(name)
    return found


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.keystores: set[Path] = set()
        for sub in ("tmp", ".config", ".cache", ".local/share", ".local/state"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def env(self, **extra: str) -> dict[str, str]:
        root = str(self.root)
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": root,
            "TMPDIR": f"{root}/tmp",
            "XDG_CONFIG_HOME": f"{root}/.config",
            "XDG_CACHE_HOME": f"{root}/.cache",
            "XDG_DATA_HOME": f"{root}/.local/share",
            "XDG_STATE_HOME": f"{root}/.local/state",
            "PYTHONDONTWRITEBYTECODE": "1",
            "HIP3_LEAK_KEY": "0x" + HEX.upper(),
            "HIP3_LEAK_PW": PASSWORD,
            "HIP3_LEAK_WRONG_PW": WRONG_PASSWORD,
            **extra,
        }

    def run(self, *args: str, stdin: str = "", **extra_env: str) -> Run:
        done = subprocess.run(
            [sys.executable, "-m", "hip3term", *args],
            input=stdin.encode(),
            capture_output=True,
            cwd=self.root,
            env=self.env(**extra_env),
            timeout=120,
            check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    def assert_clean(self, run: Run, *extra: str) -> None:
        assert leaks(run.out, *extra) == [], run.out
        assert leaks(run.err, *extra) == [], run.err
        assert b"Traceback" not in run.err, run.err
        files = [p for p in self.root.rglob("*") if p.is_file()]
        for path in files:
            found = leaks(path.read_bytes(), *extra)
            assert found == [], f"{path} contains {found}"
        assert self.keystores <= set(files)


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


@pytest.fixture
def keystore(sandbox: Sandbox) -> Path:
    path = sandbox.root / "agent.json"
    write_keystore(KEY, path, PASSWORD, kdf_iterations=2)  # a real but cheap scrypt
    sandbox.keystores.add(path)
    return path


# --- the detector itself must see every form of the key --------------------------------


@pytest.mark.parametrize(
    "blob",
    [
        HEX.encode(),
        ("0x" + HEX.upper()).encode(),
        f"key={HEX[:32].upper()}{HEX[32:]}".encode(),
        b"\x00" + RAW + b"\x00",
        base64.b64encode(RAW),
        f"password: {PASSWORD}".encode(),
    ],
)
def test_detector_finds_leaks(blob: bytes) -> None:
    assert leaks(blob) != []


def test_detector_accepts_address_and_keystore(keystore: Path) -> None:
    assert leaks(KEY.address.encode()) == []
    assert leaks(keystore.read_bytes()) == []


# --- the CLI ----------------------------------------------------------------------------


def test_keys_import_from_env_leaks_nothing(sandbox: Sandbox) -> None:
    out = sandbox.root / "imported.json"
    sandbox.keystores.add(out)
    run = sandbox.run(
        "keys", "import", "--out", "imported.json", "--key-env", "HIP3_LEAK_KEY",
        "--password-env", "HIP3_LEAK_PW",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert KEY.address.encode() in run.out
    sandbox.assert_clean(run)


def test_keys_import_from_stdin_leaks_nothing(sandbox: Sandbox) -> None:
    out = sandbox.root / "state" / "imported.json"
    sandbox.keystores.add(out)
    run = sandbox.run(
        "keys", "import", "--out", "state/imported.json", "--password-env", "HIP3_LEAK_PW",
        stdin=HEX + "\n",
    )  # fmt: skip
    assert run.code == 0, run.err
    sandbox.assert_clean(run)


def test_keys_import_malformed_key_is_not_echoed(sandbox: Sandbox) -> None:
    malformed = HEX[:-1] + "z"
    run = sandbox.run(
        "keys", "import", "--out", "x.json", "--key-env", "HIP3_LEAK_KEY",
        "--password-env", "HIP3_LEAK_PW", HIP3_LEAK_KEY=malformed,
    )  # fmt: skip
    assert run.code == 2
    assert run.err.startswith(b"hip3term: key error: ")
    sandbox.assert_clean(run, HEX[:-1])


def test_keys_address_from_keystore_leaks_nothing(sandbox: Sandbox, keystore: Path) -> None:
    run = sandbox.run(
        "keys", "address", "--keystore", "agent.json", "--password-env", "HIP3_LEAK_PW"
    )
    assert run.code == 0, run.err
    assert run.out == KEY.address.encode() + b"\n"
    sandbox.assert_clean(run)


def test_keys_address_wrong_password_leaks_nothing(sandbox: Sandbox, keystore: Path) -> None:
    run = sandbox.run(
        "keys", "address", "--keystore", "agent.json", "--password-env", "HIP3_LEAK_WRONG_PW"
    )
    assert run.code == 2
    assert b"wrong password" in run.err
    sandbox.assert_clean(run)


def test_keys_address_from_env_leaks_nothing(sandbox: Sandbox) -> None:
    run = sandbox.run("keys", "address", "--key-env", "HIP3_LEAK_KEY")
    assert run.code == 0, run.err
    assert run.out == KEY.address.encode() + b"\n"
    sandbox.assert_clean(run)


def test_keys_new_leaks_no_password(sandbox: Sandbox) -> None:
    sandbox.keystores.add(sandbox.root / "fresh.json")
    run = sandbox.run("keys", "new", "--out", "fresh.json", "--password-env", "HIP3_LEAK_PW")
    assert run.code == 0, run.err
    sandbox.assert_clean(run)


def test_sign_leaks_nothing(sandbox: Sandbox) -> None:
    run = sandbox.run("sign", "--key-env", "HIP3_LEAK_KEY", stdin='{"type":"noop"}')
    assert run.code == 0, run.err
    sandbox.assert_clean(run)

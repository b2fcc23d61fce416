"""`hip3term sim` as a user runs it: a real process, a real client, SIGTERM to stop."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner
from websockets.asyncio.client import connect

from hip3term.cli import app
from hip3term.venue.sim.faults import COUNTER_NAMES

FUNDED = "0x" + "ab" * 20
RECORDING = Path(__file__).resolve().parent.parent / "fixtures" / "recordings"


async def start_sim(*args: str) -> tuple[asyncio.subprocess.Process, list[str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hip3term", "sim", "--log-level", "warning", *args,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    banner: list[str] = []
    async with asyncio.timeout(20):
        while not banner or not banner[-1].startswith("Ctrl-C"):
            line = await process.stdout.readline()
            assert line, (await process.stderr.read()).decode() if process.stderr else ""
            banner.append(line.decode().rstrip("\n"))
    return process, banner


@pytest.fixture
async def sim_process() -> AsyncIterator[tuple[asyncio.subprocess.Process, list[str]]]:
    process, banner = await start_sim("--port", "0", "--fund", f"{FUNDED}=500", "--seed", "3")
    yield process, banner
    if process.returncode is None:
        process.kill()
        await process.wait()


def test_help_documents_every_option_and_fault() -> None:
    result = CliRunner().invoke(app, ["sim", "--help"], terminal_width=100)
    assert result.exit_code == 0
    for option in ("--market", "--port", "--seed", "--fund", "--faults", "--from-recording",
                   "--speed", "--book-interval", "--idle-timeout", "--testnet"):  # fmt: skip
        assert option in result.output
    kinds = {name.split(".")[0] for name in COUNTER_NAMES}
    for kind in kinds:
        assert f"{kind}=" in result.output


async def test_the_process_serves_prints_and_stops_on_sigterm(
    sim_process: tuple[asyncio.subprocess.Process, list[str]],
) -> None:
    process, banner = sim_process
    url = banner[0].removeprefix("hip3term sim: serving ")
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    assert url == f"ws://127.0.0.1:{port}/ws"
    assert f"port: {port}" in banner
    assert f"  {FUNDED} 500 USDC" in banner
    async with connect(url) as ws:
        assert await ws.recv() == "Websocket connection established."
        request = {"type": "info", "payload": {"type": "clearinghouseState", "user": FUNDED}}
        await ws.send(json.dumps({"method": "post", "id": 1, "request": request}))
        answer = json.loads(await ws.recv())
        state = answer["data"]["response"]["payload"]["data"]
        assert state["marginSummary"]["accountValue"] == "500"
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        assert await process.wait() == 0


async def test_bad_funding_is_a_user_error() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hip3term", "sim", "--fund", "0x1234=10",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(20):
        _, err = await process.communicate()
    assert process.returncode == 2
    assert err.decode().startswith("hip3term: configuration error: --fund 0x1234=10")


async def test_replay_of_a_recording_finds_its_market() -> None:
    recording = next(RECORDING.glob("*.jsonl"))
    process, banner = await start_sim("--from-recording", str(recording), "--speed", "100")
    try:
        assert any(line.startswith("markets: xyz:AAPL (asset 110") for line in banner)
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await process.wait() == 0


async def test_replay_of_an_h3rec_session_serves_the_recorded_book(tmp_path: Path) -> None:
    # a session file as `hip3term record` writes it, holding the real 20x20 xyz:AAPL book
    from hip3term.recording.format import RecordingHeader
    from hip3term.recording.recorder import Recorder

    lines = (RECORDING / "xyz_aapl_frames.jsonl").read_text().splitlines()
    frames = [json.loads(line) for line in lines if line.strip()]
    book = next(f["frame"] for f in frames
                if isinstance(f["frame"], dict) and f["frame"].get("channel") == "l2Book")
    header = RecordingHeader(market="xyz:AAPL", dex="xyz", venue="mainnet",
                             ws_url="wss://example.invalid/ws", config_hash="0")
    with Recorder.open(tmp_path, header) as recorder:
        for i, item in enumerate(frames):
            raw = item["frame"] if isinstance(item["frame"], str) else json.dumps(item["frame"])
            recorder.frame_in(raw.encode(), None, None, wall_ns=1_000_000_000 * (i + 1))
        path = recorder.path
    process, banner = await start_sim("--from-recording", str(path), "--speed", "100")
    try:
        assert any(line.startswith("markets: xyz:AAPL (asset 110") for line in banner)
        url = next(line.split()[-1] for line in banner if "serving" in line)
        async with connect(url) as ws, asyncio.timeout(20):
            await ws.recv()  # greeting
            await ws.send(json.dumps({"method": "subscribe",
                                      "subscription": {"type": "l2Book", "coin": "xyz:AAPL"}}))
            while True:
                message = json.loads(await ws.recv())
                if message["channel"] == "l2Book" and message["data"]["levels"][0]:
                    break
        served_bid = message["data"]["levels"][0][0]
        recorded_bid = book["data"]["levels"][0][0]
        assert Decimal(served_bid["px"]) == Decimal(recorded_bid["px"])
        assert Decimal(served_bid["sz"]) == Decimal(recorded_bid["sz"])
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await process.wait() == 0

"""`hip3term record` as a user runs it: a subprocess recording from a websocket server.

The server here is a test fixture, not a copy of our simulator: it greets, acknowledges
every subscription and streams the real exchange frames of tests/fixtures (some twice),
so the test knows exactly which frames went out on each channel.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path

import orjson
from websockets.asyncio.server import ServerConnection, serve

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _real_frames() -> list[bytes]:
    lines = (FIXTURES / "real_ws_frames.jsonl").read_text().splitlines()
    return [orjson.dumps(json.loads(line)["msg"]) for line in lines if line.strip()]


async def _run_record(args: list[str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hip3term", "record", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _info(path: Path) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hip3term", "recordings", "info", "--json", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    info: dict[str, object] = json.loads(out)
    return info


async def test_record_counts_every_real_frame_per_channel(tmp_path: Path) -> None:
    frames = _real_frames()
    sent: Counter[str] = Counter()

    async def handler(ws: ServerConnection) -> None:
        await ws.send("Websocket connection established.")
        acks = 0
        async for message in ws:
            request = json.loads(message)
            if request.get("method") == "subscribe":
                ack = {"channel": "subscriptionResponse",
                       "data": {"method": "subscribe", "subscription": request["subscription"]}}
                await ws.send(orjson.dumps(ack).decode())
                sent["subscriptionResponse"] += 1
                acks += 1
                if acks == 4:  # every market channel acknowledged: stream the real frames
                    for i, frame in enumerate(frames):
                        for _ in range(2 if i % 5 == 0 else 1):  # some duplicated
                            await ws.send(frame.decode())
                            sent[json.loads(frame)["channel"]] += 1
            elif request.get("method") == "ping":
                await ws.send('{"channel":"pong"}')
                sent["pong"] += 1

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        out_file = tmp_path / "session.h3rec"
        code, out, err = await _run_record(
            ["--ws-url", f"ws://127.0.0.1:{port}/ws", "--duration", "3s", "--out", str(out_file)]
        )
    assert code == 0, err
    assert "recorded" in out
    info = await _info(out_file)
    assert info["frames"] == dict(sent)
    assert info["frames_without_channel"] == 1  # the plain-text greeting
    assert info["frames_total"] == sum(sent.values()) + 1


async def test_record_starts_the_embedded_simulator_by_default(tmp_path: Path) -> None:
    code, _out, err = await _run_record(["--duration", "3s", "--out", str(tmp_path)])
    assert code == 0, err
    files = sorted(p for p in tmp_path.iterdir() if p.suffix == ".h3rec")  # noqa: ASYNC240
    assert len(files) == 1
    info = await _info(files[0])
    frames = info["frames"]
    assert isinstance(frames, dict)
    assert frames["subscriptionResponse"] == 4
    assert frames["l2Book"] >= 2  # the simulator pushes a book every 0.5 s
    header = info["header"]
    assert isinstance(header, dict)
    assert header["market"] == "xyz:COIN" and header["venue"] == "sim"


async def test_record_refuses_a_bad_duration_with_exit_2(tmp_path: Path) -> None:
    code, _, err = await _run_record(["--duration", "soon", "--out", str(tmp_path)])
    assert code == 2
    assert "--duration" in err and "Traceback" not in err

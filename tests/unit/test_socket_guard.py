import asyncio
import socket

import pytest

from tests.conftest import NetworkRefusedError


def test_socket_guard_refuses_public_address() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(NetworkRefusedError):
        s.connect(("8.8.8.8", 53))


def test_socket_guard_refuses_private_range() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(NetworkRefusedError):
        s.connect_ex(("192.168.1.1", 80))


async def test_socket_guard_refuses_asyncio_connection() -> None:
    with pytest.raises(NetworkRefusedError):
        await asyncio.open_connection("10.0.0.1", 443)


async def test_socket_guard_allows_loopback() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await reader.read(5) == b"hello"
        writer.close()

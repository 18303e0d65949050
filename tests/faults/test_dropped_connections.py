"""Issue 16, item 1: a frozen client dropped for the send timeout kept its connection. The log
said ``dropped a client that stopped reading`` and ``streamchat_active_streams`` fell to 0, but
the server's socket stayed ESTABLISHED with megabytes queued and its fd open for as long as the
client stayed connected (uvicorn's close waits for the write buffer to drain, which a frozen
client never lets happen). Now the drop aborts the connection: fd and socket gone at once, the
client sees a reset."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx

from tests.conftest import ServerFactory
from tests.faults.tally import TALLY
from tests.faults.test_frozen_clients import metric

# Unpaced and far more than the kernel buffers on both ends hold.
HUGE = {"message": "[[mock tokens=100000]]", "model": "gpt-4o-mini"}
ESTABLISHED = "01"


def connection_states(local_port: int, remote_port: int) -> list[str]:
    """TCP states (hex, as /proc/net/tcp writes them) of this process's sockets from
    ``local_port`` to ``remote_port`` on loopback: the server's end of one client."""
    states = []
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if int(local.split(":")[1], 16) == local_port and (
                int(remote.split(":")[1], 16) == remote_port
            ):
                states.append(state)
    return states


def frozen(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    body = json.dumps(HUGE).encode()
    sock.sendall(
        f"POST /api/chat HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


async def test_a_dropped_frozen_client_has_its_connection_closed(
    make_server: ServerFactory,
) -> None:
    server = make_server(send_timeout=1.0, requests_per_minute=0)
    server_port = int(server.url.rsplit(":", 1)[1])
    sock = frozen(server.url)
    client_port = sock.getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            for _ in range(100):
                if await metric(client, "streamchat_active_streams") == 1:
                    break
                await asyncio.sleep(0.1)
            assert connection_states(server_port, client_port) == [ESTABLISHED]
            TALLY.fault()
            for _ in range(150):  # dropped after ~1-2 s of blocked sends
                if await metric(client, "streamchat_active_streams") == 0:
                    break
                await asyncio.sleep(0.1)
            assert await metric(client, "streamchat_active_streams") == 0
            for _ in range(30):  # the socket is gone, not left ESTABLISHED with its queue
                if not connection_states(server_port, client_port):
                    break
                await asyncio.sleep(0.1)
            assert connection_states(server_port, client_port) == []
        # The client reads what reached its buffers, then the reset (or the end).
        sock.settimeout(10)
        ended = False
        try:
            while sock.recv(1 << 16):
                pass
            ended = True
        except ConnectionResetError:
            ended = True
        assert ended
    finally:
        sock.close()

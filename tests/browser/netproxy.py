"""A TCP proxy on loopback whose open connections a test can cut, to drop the page's network."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

__all__ = ["DroppingProxy", "dropping_proxy"]


class DroppingProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.dropped = 0
        self.closed = False
        self.blocked = False  # reset new connections at once
        self.trickle = False  # relay SSE events to the browser one byte at a time
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.blocked:
                _reset(client)
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.pairs.append((client, upstream))
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._relay, args=(upstream, client), daemon=True).start()

    def _relay(self, upstream: socket.socket, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _pump(upstream, client, lambda data: self.trickle and b"event: " in data)

    def drop(self) -> int:
        """Reset every open connection (the browser sees ERR_CONNECTION_RESET)."""
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for sock in pair:
                _reset(sock)
        self.dropped += len(pairs)
        return len(pairs)

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        self.drop()


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked in recv() on it
    with contextlib.suppress(OSError):
        sock.close()


def _pump(
    source: socket.socket,
    sink: socket.socket,
    bytewise: Callable[[bytes], bool] = lambda data: False,
) -> None:
    try:
        while data := source.recv(65536):
            if not bytewise(data):
                sink.sendall(data)
                continue
            for i in range(len(data)):
                sink.sendall(data[i : i + 1])
                time.sleep(0.0005)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def dropping_proxy(url: str) -> Iterator[DroppingProxy]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    proxy = DroppingProxy((host, int(port)))
    try:
        yield proxy
    finally:
        proxy.close()

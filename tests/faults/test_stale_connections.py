"""Issue 16, item 8 (carried): a POST on a pooled provider connection that closed with no byte
of answer was sent again on a new connection, so a provider that had read it and then closed
(a crash, a proxy's idle cut after the request went through) ran it twice, and one client call
cost more provider calls than ``1 + upstream_retries``. Now the pool sends a request again only
when it provably was not sent (the connection was found closed before a byte was written);
otherwise the close is the caller's failure. Counted at the (scripted) provider."""

from __future__ import annotations

import pytest

from streamchat.upstream.connections import ConnectionClosed
from tests.upstream.test_connections import Peer, Server, fixed, pool_for, post


async def test_a_post_the_provider_read_is_not_sent_twice() -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(fixed(b"one"))  # keep-alive: the pool keeps this connection
        await peer.request()  # the next POST arrives, is read ...
        peer.writer.close()  # ... and the provider goes away without a byte of answer

    async with Server(script) as server, pool_for(server) as (pool, target):
        first = await post(pool, target, b'{"n": 1}')
        assert await first.read_body(100) == b"one"
        pool.release(first)
        with pytest.raises(ConnectionClosed):
            await post(pool, target, b'{"n": 2}')
    bodies = [(peer.index, body) for peer in server.peers for _, _, body in peer.requests]
    assert bodies == [(0, b'{"n": 1}'), (0, b'{"n": 2}')]  # the second POST ran once

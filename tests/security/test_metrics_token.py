"""Issue 16, item 8 (carried): ``/metrics`` could not be protected. With ``--metrics-token``
it answers only ``Authorization: Bearer <that token>``; without, it stays open (scrapers)."""

from __future__ import annotations

import httpx

from tests.conftest import ServerFactory
from tests.faults.tally import TALLY

METRICS_TOKEN = "mt-PLANTED-5d4c3b2a19"


async def test_metrics_can_be_protected_by_a_token(make_server: ServerFactory) -> None:
    server = make_server(metrics_token=METRICS_TOKEN)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Basic {METRICS_TOKEN}"},
            {"Authorization": f"Bearer {METRICS_TOKEN}x"},
        ):
            TALLY.bad_input()
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401, (headers, refused.text)
            assert refused.json()["error"]["code"] == "unauthorized"
            assert METRICS_TOKEN not in refused.text
        allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert allowed.status_code == 200
        assert "streamchat_active_streams" in allowed.text
        assert (await client.get("/healthz")).status_code == 200  # health stays open


async def test_metrics_are_open_without_a_token(make_server: ServerFactory) -> None:
    server = make_server()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        assert (await client.get("/metrics")).status_code == 200

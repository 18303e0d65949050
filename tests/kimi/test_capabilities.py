"""GET /api/capabilities: what the page may offer per model, from the catalog's presets."""

from __future__ import annotations

import httpx

from tests.conftest import Server


async def test_capabilities_per_model(kimi_server: Server) -> None:
    async with httpx.AsyncClient(base_url=kimi_server.url, timeout=30) as client:
        response = await client.get("/api/capabilities")
    assert response.status_code == 200
    body = response.json()
    by_id = {m["id"]: m for m in body["models"]}
    assert by_id["moonshot-v1-8k"] == {
        "id": "moonshot-v1-8k",
        "provider": "kimi",
        "vision": False,
        "thinking": None,
        "web_search": True,
        "continue": True,
        "file_extract": True,
    }
    assert (by_id["kimi-k2.5"]["vision"], by_id["kimi-k2.5"]["thinking"]) == (True, "kimi")
    assert by_id["kimi-k2-thinking"]["thinking"] is None  # it always thinks
    demo = by_id["demo"]
    assert [demo[k] for k in ("vision", "web_search", "continue", "file_extract")] == [False] * 4
    assert body["files"]["max_bytes"] == kimi_server.settings.max_file_bytes
    assert "application/pdf" in body["files"]["types"]

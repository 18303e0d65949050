"""Another user's response is a 404 on every route of /v1/responses, like one that does not
exist; the owner's own calls still work after bob's attempts."""

from __future__ import annotations

import httpx

from tests.security.conftest import AuthServerFactory

MODEL = "gpt-4o-mini"


async def test_another_users_response_is_not_found(make_auth_server: AuthServerFactory) -> None:
    server = make_auth_server()
    alice, bob = server.bearer("alice"), server.bearer("bob")
    async with httpx.AsyncClient(base_url=server.url + "/v1", timeout=30) as http:
        started = await http.post(
            "/responses",
            headers=alice,
            json={"model": MODEL, "input": "[[mock tokens=3000 rate=100]]", "background": True},
        )
        assert started.status_code == 200, started.text
        response_id = started.json()["id"]
        refused = [
            await http.get(f"/responses/{response_id}", headers=bob),
            await http.get(f"/responses/{response_id}?stream=true", headers=bob),
            await http.post(f"/responses/{response_id}/cancel", headers=bob),
            await http.delete(f"/responses/{response_id}", headers=bob),
            await http.post(
                "/responses",
                headers=bob,
                json={"model": MODEL, "input": "x", "previous_response_id": response_id},
            ),
        ]
        assert [r.status_code for r in refused] == [404] * 5
        assert all(r.json()["error"]["type"] for r in refused)
        assert all(response_id in r.json()["error"]["message"] for r in refused)
        mine = await http.get(f"/responses/{response_id}", headers=alice)
        assert mine.json()["status"] in ("queued", "in_progress")
        cancelled = await http.post(f"/responses/{response_id}/cancel", headers=alice)
        assert cancelled.json()["status"] == "cancelled"
        unknown = await http.get("/responses/resp_0123", headers=alice)
        assert unknown.status_code == 404

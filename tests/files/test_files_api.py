"""POST/GET/DELETE /api/files through a real server, on SQLite and PostgreSQL: the type comes
from the bytes, every bad input is a clear error with nothing stored, owners only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Server, ServerFactory
from tests.files import samples
from tests.security.accounts import create_users


@pytest.fixture
def accounts(make_server: ServerFactory, database_url: str) -> tuple[Server, dict[str, str]]:
    tokens = create_users(database_url, "alice", "bob")
    server = make_server(auth="on", max_file_bytes=300_000, max_image_pixels=1_000_000)
    return server, {u: f"Bearer {t}" for u, t in tokens.items()}


async def _upload(
    client: httpx.AsyncClient, name: str, data: bytes, auth: str, mime: str = "x/y"
) -> httpx.Response:
    return await client.post(
        "/api/files", files={"file": (name, data, mime)}, headers={"Authorization": auth}
    )


async def _count(client: httpx.AsyncClient, auth: str, ids: list[str]) -> int:
    found = 0
    for file_id in ids:
        response = await client.get(f"/api/files/{file_id}/meta", headers={"Authorization": auth})
        found += response.status_code == 200
    return found


async def test_upload_download_delete(accounts: tuple[Server, dict[str, str]]) -> None:
    server, auth = accounts
    image = samples.png()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        # The part says text/plain: the bytes say PNG, and the bytes win.
        created = await _upload(client, "shot.png", image, auth["alice"], "text/plain")
        assert created.status_code == 201, created.text
        body = created.json()
        assert {k: body[k] for k in ("name", "mime", "bytes", "kind")} == {
            "name": "shot.png",
            "mime": "image/png",
            "bytes": len(image),
            "kind": "image",
        }
        got = await client.get(f"/api/files/{body['id']}", headers={"Authorization": auth["alice"]})
        assert got.status_code == 200
        assert got.content == image
        assert got.headers["content-type"] == "image/png"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-disposition"].startswith("inline;")
        gone = await client.delete(
            f"/api/files/{body['id']}", headers={"Authorization": auth["alice"]}
        )
        assert gone.status_code == 204
        again = await client.get(
            f"/api/files/{body['id']}", headers={"Authorization": auth["alice"]}
        )
        assert again.status_code == 404


@pytest.mark.parametrize(
    ("name", "data", "mime", "kind"),
    [
        ("notes.pdf", samples.pdf("Hello from a PDF"), "application/pdf", "document"),
        ("readme.md", b"# Title\n\nSome *markdown*.\n", "text/markdown", "document"),
        ("table.csv", b"a,b\n1,2\n", "text/csv", "document"),
        ("data.json", b'{"a": [1, 2]}', "application/json", "document"),
        ("main.py", b"def main():\n    return 42\n", "text/plain", "document"),
        ("page.html", b"<!doctype html><script>alert(1)</script>", "text/html", "document"),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>',
            "image/svg+xml",
            "document",
        ),
        ("photo.jpg", samples.jpeg(), "image/jpeg", "image"),
    ],
)
async def test_documents_download_as_attachments(
    accounts: tuple[Server, dict[str, str]], name: str, data: bytes, mime: str, kind: str
) -> None:
    """Only raster images are served inline; SVG and HTML never are, and nothing is sniffed."""
    server, auth = accounts
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        created = await _upload(client, name, data, auth["alice"])
        assert created.status_code == 201, created.text
        assert (created.json()["mime"], created.json()["kind"]) == (mime, kind)
        got = await client.get(
            f"/api/files/{created.json()['id']}", headers={"Authorization": auth["alice"]}
        )
    assert got.content == data
    assert got.headers["x-content-type-options"] == "nosniff"
    disposition = got.headers["content-disposition"]
    if kind == "image":
        assert disposition.startswith("inline;")
    else:
        assert disposition.startswith("attachment;")
        assert "html" not in got.headers["content-type"]
        assert "svg" not in got.headers["content-type"]
    assert "sandbox" in got.headers["content-security-policy"]


BAD: list[tuple[str, bytes, int, str]] = [
    ("empty.txt", b"", 400, "empty"),
    ("big.txt", b"a" * 300_001, 413, "over the limit"),
    ("cut.png", samples.png()[:-20], 400, "truncated"),
    ("cut.pdf", samples.pdf()[:-40], 400, "truncated"),
    ("cut.jpg", samples.jpeg()[:-100], 400, "truncated"),
    ("picture.pdf", samples.png(), 400, "named .pdf but its bytes are a PNG image"),
    ("innocent.png", b"<!doctype html><script>alert(1)</script>", 400, "its bytes are HTML"),
    ("bomb.png", samples.png_bomb(), 400, "pixels"),
    ("bomb.pdf", samples.pdf_bomb(), 400, "decompresses to more than"),
    ("archive.zip", b"PK\x03\x04" + b"\x00" * 40, 415, "not supported"),
    ("binary.bin", bytes(range(256)), 415, "not an image"),
    ("latin1.txt", "café".encode("latin-1"), 415, "UTF-8"),
]


@pytest.mark.parametrize(("name", "data", "status", "says"), BAD, ids=[b[0] for b in BAD])
async def test_bad_files_are_refused_and_not_stored(
    accounts: tuple[Server, dict[str, str]], name: str, data: bytes, status: int, says: str
) -> None:
    server, auth = accounts
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        response = await _upload(client, name, data, auth["alice"])
        assert response.status_code == status, response.text
        error: dict[str, Any] = response.json()["error"]
        assert says in error["message"]
        # Nothing was stored: the next good upload is the user's only file.
        ok = await _upload(client, "ok.txt", b"fine", auth["alice"])
    assert ok.status_code == 201
    usage = await _usage(server, "alice")
    assert usage == (1, 4)


async def _usage(server: Server, user: str) -> tuple[int, int]:
    from streamchat.store.sql import SqlStore

    store = SqlStore(server.settings.database)
    await store.open()
    try:
        return await store.file_usage(user)
    finally:
        await store.close()


async def test_someone_elses_file_is_not_found(accounts: tuple[Server, dict[str, str]]) -> None:
    server, auth = accounts
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        created = await _upload(client, "mine.txt", b"alice's", auth["alice"])
        file_id = created.json()["id"]
        for method in ("GET", "DELETE"):
            response = await client.request(
                method, f"/api/files/{file_id}", headers={"Authorization": auth["bob"]}
            )
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "not_found"
        still = await client.get(f"/api/files/{file_id}", headers={"Authorization": auth["alice"]})
    assert still.content == b"alice's"


async def test_count_limit(make_server: ServerFactory) -> None:
    server = make_server(max_files_per_user=2)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for i in range(2):
            response = await client.post("/api/files", files={"file": (f"{i}.txt", b"x")})
            assert response.status_code == 201
        third = await client.post("/api/files", files={"file": ("3.txt", b"x")})
    assert third.status_code == 400
    assert third.json()["error"]["code"] == "too_many_files"


async def test_upload_without_a_file_part(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post("/api/files", data={"name": "x"})
    assert response.status_code == 400
    assert "multipart field 'file'" in response.json()["error"]["message"]


async def test_uploads_have_their_own_body_limit(make_server: ServerFactory) -> None:
    """A 3 MB file is over the API's 1 MiB body limit, not over the uploads' (max_file_bytes
    plus the multipart framing); a body past that is a 413 before it is read."""
    server = make_server(max_file_bytes=4_000_000)
    big = b"line of text\n" * (3_000_000 // 13)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        ok = await client.post("/api/files", files={"file": ("big.txt", big)})
        assert ok.status_code == 201, ok.text
        assert ok.json()["bytes"] == len(big)
        over = await client.post("/api/files", files={"file": ("huge.txt", big * 2)})
    assert over.status_code == 413


async def test_unreadable_multipart_bodies_are_clear_400s(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        two = await client.post(
            "/api/files", files=[("file", ("a.txt", b"x")), ("file", ("b.txt", b"y"))]
        )
        garbage = await client.post(
            "/api/files",
            content=b"garbage",
            headers={"content-type": "multipart/form-data; boundary=zz"},
        )
    assert two.status_code == 400
    assert "Maximum number of files is 1" in two.json()["error"]["message"]
    assert garbage.status_code == 400
    assert "not a readable multipart body" in garbage.json()["error"]["message"]

"""streamchat.files.inspect, sans-IO: the type from the bytes, the name only refining text."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from streamchat.errors import StreamchatError
from streamchat.files import data_url, inspect, served_inline
from tests.files import samples


def _image(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (5, 5), (1, 2, 3)).save(out, kind)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "mime", "kind"),
    [
        ("a.png", samples.png(), "image/png", "image"),
        ("no-extension", samples.png(), "image/png", "image"),
        ("a.jpeg", samples.jpeg(), "image/jpeg", "image"),
        ("a.gif", _image("GIF"), "image/gif", "image"),
        ("a.webp", _image("WEBP"), "image/webp", "image"),
        ("a.pdf", samples.pdf("hello"), "application/pdf", "document"),
        ("notes", b"plain words", "text/plain", "document"),
        ("a.md", b"# t", "text/markdown", "document"),
        ("a.CSV", b"a,b", "text/csv", "document"),
        ("a.json", b"{}", "application/json", "document"),
        ("a.rs", 'fn main() { println!("é"); }'.encode(), "text/plain", "document"),
        ("a.svg", b"\xef\xbb\xbf<?xml version='1.0'?>\n<svg/>", "image/svg+xml", "document"),
        ("page", b"  <!DOCTYPE html><p>x", "text/html", "document"),
        ("a.html", b"<div>no doctype</div>", "text/html", "document"),
    ],
)
def test_types_come_from_the_bytes(name: str, data: bytes, mime: str, kind: str) -> None:
    found = inspect(name, data, max_image_pixels=10_000)
    assert (found.mime, found.kind) == (mime, kind)
    assert (found.text is None) == (kind == "image")


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("a.gif", _image("GIF")[:-1], 400),  # no trailer
        ("a.webp", _image("WEBP")[:-10], 400),
        ("big.png", samples.png(200, 100), 400),  # 20 000 pixels > 10 000
        ("a.txt", samples.png(), 400),  # a PNG named as text
        ("a.jpg", samples.pdf(), 400),
        ("a.svg", b"<!doctype html><p>", 400),  # HTML named .svg
        ("a.docx", b"PK\x03\x04", 415),
        ("data.gz", b"\x1f\x8b\x08", 415),
        ("nul.txt", b"text\x00more", 415),
        ("a.pdf", b"%PDF-1.4\nnot really\n%%EOF", 400),
    ],
)
def test_refused(name: str, data: bytes, status: int) -> None:
    with pytest.raises(StreamchatError) as caught:
        inspect(name, data, max_image_pixels=10_000)
    assert caught.value.status == status
    assert name in caught.value.message


def test_only_raster_images_are_inline() -> None:
    assert served_inline("image/png") and served_inline("image/webp")
    assert not any(served_inline(m) for m in ("image/svg+xml", "text/html", "application/pdf"))


def test_data_url() -> None:
    assert data_url("image/png", b"\x00\x01") == "data:image/png;base64,AAE="

"""Files a user attaches to a question: what a file is (sniffed from its bytes, never from its
name), the limits it must pass, and the text a model reads of a document. No I/O here besides
the CPU work of decoding; callers run :func:`inspect` in a thread.

Kinds and types accepted:

========= ============================================ =====================================
kind      types (sniffed)                              checked
========= ============================================ =====================================
image     image/png, image/jpeg, image/gif, image/webp  magic number; pixels at most
                                                        ``max_image_pixels`` (a decompression
                                                        bomb stops here, before decoding);
                                                        decoded whole (a truncated file fails)
document  application/pdf                              ``%PDF-`` and ``%%EOF``; the text is
                                                        extracted (pypdf, its stream limits
                                                        lowered: a Flate bomb fails)
document  text (UTF-8, no NUL): plain, Markdown, CSV,   strict UTF-8 decode; the type from the
          JSON, HTML, SVG, source code                 extension among text types only
========= ============================================ =====================================

A name whose extension belongs to one known type while the bytes are another (a PNG named
``.pdf``, HTML named ``.png``) is refused: the user meant something the file is not.
"""

from __future__ import annotations

import base64
import io
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import pypdf
import pypdf.errors
from PIL import Image, UnidentifiedImageError

from streamchat.chat import utcnow
from streamchat.errors import InvalidRequest, RequestError

__all__ = [
    "FileKind",
    "Inspected",
    "StoredFile",
    "UnsupportedFile",
    "data_url",
    "document_message",
    "inspect",
    "served_inline",
]

FileKind = Literal["image", "document"]

_RASTER = {"image/png", "image/jpeg", "image/gif", "image/webp"}
# Extension -> the type a file so named must be. Source code and unknown extensions are text.
_EXTENSIONS: dict[str, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "md": "text/markdown",
    "markdown": "text/markdown",
    "csv": "text/csv",
    "json": "application/json",
    "html": "text/html",
    "htm": "text/html",
    "svg": "image/svg+xml",
    "txt": "text/plain",
}
# Extensions of formats streamchat does not read; named so the error says what they are.
_UNSUPPORTED = {"zip", "gz", "tgz", "7z", "rar", "docx", "xlsx", "pptx", "exe", "bmp", "tiff"}
# Archives and compressed streams (zip, and so Office files; gzip, bzip2, xz, 7z, rar):
# never text, whatever their first bytes decode to.
_ARCHIVES = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!")
_TEXT_TYPES = {"text/plain", "text/markdown", "text/csv", "application/json", "text/html"}
_HTML = re.compile(rb"^\s*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<script[\s>])", re.I)
_SVG = re.compile(
    rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*(<!doctype\s+svg[^>]*>\s*)?<svg[\s>]", re.I | re.S
)
_PDF_TEXT_LIMIT = 8 * 1024 * 1024  # bytes any one PDF stream may decompress to
_PDF_LIMITS = pypdf.Configuration(
    maximum_declared_stream_length=_PDF_TEXT_LIMIT,
    zlib_maximum_output_length=_PDF_TEXT_LIMIT,
    lzw_maximum_output_length=_PDF_TEXT_LIMIT,
    run_length_maximum_output_length=_PDF_TEXT_LIMIT,
    brotli_maximum_output_length=_PDF_TEXT_LIMIT,
    array_based_stream_maximum_output_length=_PDF_TEXT_LIMIT,
    stream_decoding_work_maximum_length=4 * _PDF_TEXT_LIMIT,
)


class UnsupportedFile(RequestError):
    status = 415
    code = "unsupported_file_type"


@dataclass(slots=True)
class StoredFile:
    """A file's row (its bytes are read separately). ``text``: what a model reads of a
    document, extracted locally or by a provider (``text_source``: ``local`` or
    ``provider:<name>``)."""

    id: str
    owner_id: str
    name: str
    mime: str
    kind: FileKind
    bytes: int
    conversation_id: str | None = None
    text: str | None = None
    text_source: str | None = None
    created_at: datetime = field(default_factory=utcnow)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "mime": self.mime,
            "bytes": self.bytes,
            "kind": self.kind,
            "conversation_id": self.conversation_id,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(slots=True, frozen=True)
class Inspected:
    mime: str
    kind: FileKind
    text: str | None  # a document's text, None for an image


def served_inline(mime: str) -> bool:
    """Only raster images are shown in place; everything else (SVG, HTML, PDF, text) downloads."""
    return mime in _RASTER


def inspect(name: str, data: bytes, *, max_image_pixels: int) -> Inspected:
    """What ``data`` is, checked whole; InvalidRequest (400) or UnsupportedFile (415) if it
    is empty, truncated, a bomb, mislabelled or of a type streamchat does not read."""
    if not data:
        raise InvalidRequest(f"{name} is empty", details={"reason": "file_empty", "name": name})
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    sniffed = _sniff(data)
    if sniffed is None:
        if extension in _UNSUPPORTED:
            raise UnsupportedFile(
                f"{name}: .{extension} files are not supported", details={"name": name}
            )
        raise UnsupportedFile(
            f"{name} is not an image (PNG, JPEG, GIF, WebP), a PDF or UTF-8 text",
            details={"name": name},
        )
    claimed = _EXTENSIONS.get(extension)
    if extension in _UNSUPPORTED or (claimed is not None and claimed != _family(sniffed, claimed)):
        raise InvalidRequest(
            f"{name} is named .{extension} but its bytes are {_describe(sniffed)}; rename it "
            "or attach the right file",
            details={"reason": "file_mislabelled", "name": name},
        )
    if sniffed in _RASTER:
        _check_image(name, data, max_image_pixels)
        return Inspected(sniffed, "image", None)
    if sniffed == "application/pdf":
        return Inspected(sniffed, "document", _pdf_text(name, data))
    text = data.decode("utf-8")
    mime = claimed if claimed is not None and sniffed == "text/plain" else sniffed
    return Inspected(mime, "document", text)


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(_ARCHIVES) or b"\x00" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head = data[:1024].lstrip(b"\xef\xbb\xbf")
    if _SVG.match(head):
        return "image/svg+xml"
    if _HTML.match(head):
        return "text/html"
    return "text/plain"


def _family(sniffed: str, claimed: str) -> str:
    """The type a name may claim for ``sniffed`` bytes: plain text may be named as any text
    type (Markdown, CSV, JSON are text); otherwise exactly the sniffed type."""
    if sniffed == "text/plain" and claimed in _TEXT_TYPES | {"image/svg+xml"}:
        return claimed
    return sniffed


def _describe(mime: str) -> str:
    return {
        "image/png": "a PNG image",
        "image/jpeg": "a JPEG image",
        "image/gif": "a GIF image",
        "image/webp": "a WebP image",
        "application/pdf": "a PDF",
        "text/html": "HTML",
        "image/svg+xml": "an SVG image (XML)",
    }.get(mime, "text")


_TRAILERS = {"image/png": b"\x00\x00\x00\x00IEND\xaeB`\x82", "image/gif": b"\x3b"}


def _check_image(name: str, data: bytes, max_pixels: int) -> None:
    trailer = _TRAILERS.get(_sniff(data) or "")
    if trailer is not None and not data.endswith(trailer):
        raise InvalidRequest(
            f"{name} is a truncated image (it does not end as its format must)",
            details={"reason": "file_truncated", "name": name},
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise InvalidRequest(
                    f"{name} is {width}x{height} pixels; the limit is {max_pixels} pixels",
                    details={"reason": "image_too_large", "name": name, "limit": max_pixels},
                )
            image.load()  # the whole image: a truncated file fails here
    except InvalidRequest:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidRequest(
            f"{name} is a damaged or truncated image: {exc}",
            details={"reason": "file_damaged", "name": name},
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidRequest(
            f"{name} decompresses to too many pixels",
            details={"reason": "image_too_large", "name": name, "limit": max_pixels},
        ) from exc


def _pdf_text(name: str, data: bytes) -> str:
    if b"%%EOF" not in data[-1024:]:
        raise InvalidRequest(
            f"{name} is a truncated PDF (it does not end with %%EOF)",
            details={"reason": "file_truncated", "name": name},
        )
    try:
        with pypdf.apply_configuration(_PDF_LIMITS):
            reader = pypdf.PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise InvalidRequest(
                    f"{name} is an encrypted PDF; attach it without a password",
                    details={"reason": "pdf_encrypted", "name": name},
                )
            pages = [page.extract_text() or "" for page in reader.pages]
    except InvalidRequest:
        raise
    except pypdf.errors.LimitReachedError as exc:
        raise InvalidRequest(
            f"{name}: a stream of this PDF decompresses to more than {_PDF_TEXT_LIMIT} bytes",
            details={"reason": "file_damaged", "name": name},
        ) from exc
    except Exception as exc:  # pypdf raises many kinds on a damaged file
        raise InvalidRequest(
            f"{name} is a damaged PDF: {type(exc).__name__}: {exc}"[:300],
            details={"reason": "file_damaged", "name": name},
        ) from exc
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise InvalidRequest(
            f"{name} has no text to read (a scanned PDF?)",
            details={"reason": "pdf_no_text", "name": name},
        )
    return text


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def document_message(file: StoredFile) -> str:
    """A document as the model reads it (a system message): Kimi's extracted content as it
    came (its file-extract guide), a local extraction with the file's name."""
    if file.text_source and file.text_source.startswith("provider:"):
        return file.text or ""
    return f"The user attached the document {file.name!r} ({file.mime}):\n\n{file.text or ''}"

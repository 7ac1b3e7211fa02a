"""A fetched page's bytes -> HTML text: content type checked, charset found, decoded.

Charset order (as browsers do, WHATWG "encoding sniffing"): a byte-order mark, then the
HTTP header's charset, then a ``<meta charset>`` / ``http-equiv`` in the first bytes, then
detection (charset-normalizer), then UTF-8 with replacement. Anything that is not HTML
(a PDF, an image, JSON) is refused as ``not_html``.

Only text encodings count as charsets: an unknown label is ignored (as browsers do), but a
page declaring one of Python's bytes-to-bytes codecs (``hex``, ``base64``, ``zlib``, ``rot13``,
...) or one that cannot decode a page (``idna``, ``punycode``, ``undefined``) is refused as
``bad_encoding``, never decoded with it.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

from newsflow.tasks.errors import BadInput, FetchRefused

HTML_TYPES = {"text/html", "application/xhtml+xml"}
_PRESCAN = 4096
_DETECT_SAMPLE = 64 * 1024
_META = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.+-]+)""", re.IGNORECASE | re.DOTALL
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# WHATWG maps these labels to windows-1252, which is what pages labelled so really use.
_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "ascii": "cp1252"}
_ALIASES |= {"us-ascii": "cp1252", "iso8859-1": "cp1252", "x-user-defined": "cp1252"}
# Text encodings by Python's flag that still cannot decode a page's bytes, or would read its
# backslashes as escapes: no page is written in them.
_NOT_PAGE_CODECS = {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape"}


def parse_content_type(value: str) -> tuple[str, str | None]:
    """``text/html; charset=UTF-8`` -> (``text/html``, ``utf-8``)."""
    mime, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset" and val.strip():
            charset = val.strip().strip("\"'").lower()
    return mime.strip().lower(), charset


def is_text_charset(label: str) -> bool:
    """Whether a known charset label names a codec a document can be written in (an unknown
    label is not refused here: it is simply ignored by whoever reads it)."""
    try:
        info = codecs.lookup(_ALIASES.get(label.lower(), label.lower()))
    except LookupError:
        return True
    return bool(getattr(info, "_is_text_encoding", True)) and info.name not in _NOT_PAGE_CODECS


def _codec(label: str | None, url: str = "") -> str | None:
    """The codec of a declared charset label; None for no label or an unknown one (the next
    source decides); ``BadInput(bad_encoding)`` for a codec that is not a text encoding."""
    if not label:
        return None
    if not is_text_charset(label):
        raise BadInput(
            url,
            f"declared charset {label!r} is not a text encoding a page can be read in",
            reason="bad_encoding",
        )
    try:
        return codecs.lookup(_ALIASES.get(label.lower(), label.lower())).name
    except LookupError:
        return None


def check_html(content_type: str, body: bytes, url: str) -> None:
    """Refuse anything that is not an HTML page (``not_html``)."""
    mime, _ = parse_content_type(content_type)
    head = body[:1024].lstrip().lower()
    if mime in HTML_TYPES:
        if head.startswith(b"%pdf"):
            raise FetchRefused(url, "a PDF served as text/html", reason="not_html")
        return
    if not mime and (head.startswith((b"<!doctype html", b"<html")) or b"<html" in head):
        return
    shown = mime or "no content type"
    raise FetchRefused(url, f"content type {shown}, not an HTML page", reason="not_html")


def decode_html(body: bytes, content_type: str = "", url: str = "") -> str:
    """The page's text (see the module doc for the charset order); ``BadInput``
    (``bad_encoding``) when the page declares a charset no page can be decoded with."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, errors="replace")
    _, header = parse_content_type(content_type)
    codec = _codec(header, url)
    if codec is None:
        match = _META.search(body[:_PRESCAN])
        if match:
            codec = _codec(match.group(1).decode("ascii", "replace"), url)
            if codec and codec.startswith("utf-16"):
                codec = "utf-8"  # the meta tag was readable as ASCII, so it is not UTF-16
    if codec is None:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            best = from_bytes(body[:_DETECT_SAMPLE]).best()
            codec = _codec(best.encoding, url) if best is not None else None
    try:
        return body.decode(codec or "utf-8", errors="replace")
    except (LookupError, UnicodeError) as exc:  # a codec that refuses ``replace``
        detail = f"charset {codec!r} cannot decode the page: {exc}"[:500]
        raise BadInput(url, detail, reason="bad_encoding") from exc

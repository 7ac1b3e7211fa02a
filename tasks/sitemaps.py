"""Sitemaps (urlset and sitemap index, plain or gzipped, or plain text) -> dated URLs.

Keeps ``lastmod`` and Google News' ``news:publication_date`` / ``news:title`` so a backfill
can pick article URLs by date. XML is parsed with entities unresolved, no network, no DTD
and no huge-tree mode; gzip is decompressed with a bounded output.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from newsflow.tasks.normalize import is_http_url
from newsflow.tasks.xmlsafe import UnsafeXML, strip_doctype

MAX_URLS = 50_000  # the sitemap protocol's own limit per file


@dataclass(slots=True)
class SitemapURL:
    loc: str
    lastmod: datetime | None = None
    published: datetime | None = None  # news:publication_date
    title: str | None = None  # news:title


@dataclass(slots=True)
class Sitemap:
    urls: list[SitemapURL]
    sitemaps: list[SitemapURL]  # children of a sitemap index
    error: str | None = None


def parse_date(value: str | None) -> datetime | None:
    """W3C datetime (``2024-01-02``, ``2024-01-02T10:00:00+01:00``, ``...Z``) in UTC."""
    if not value:
        return None
    value = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def gunzip(data: bytes, cap: int) -> bytes:
    """Decompress gzip with the output bounded by ``cap`` (``ValueError`` beyond it)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, cap + 1)
    if len(out) > cap:
        raise ValueError(f"decompressed sitemap larger than {cap} bytes")
    return out


def parse_sitemap(data: bytes, *, cap: int = 50 * 1024 * 1024) -> Sitemap:
    """The URLs (or child sitemaps) of one sitemap document; never raises on bad input."""
    try:
        if data[:2] == b"\x1f\x8b":
            data = gunzip(data, cap)
    except (ValueError, zlib.error) as exc:
        return Sitemap([], [], f"bad gzip: {exc}")
    head = data.lstrip()[:1]
    if head and head != b"<":  # a text sitemap: one URL a line
        lines = data.decode("utf-8", errors="replace").split()
        return Sitemap([SitemapURL(u) for u in lines if is_http_url(u)][:MAX_URLS], [])
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=True
    )
    try:
        root = etree.fromstring(strip_doctype(data).data, parser)
    except UnsafeXML as exc:
        return Sitemap([], [], f"refused: {exc}")
    except etree.XMLSyntaxError as exc:
        return Sitemap([], [], f"XMLSyntaxError: {exc}")
    if root is None:
        return Sitemap([], [], "empty document")
    urls: list[SitemapURL] = []
    children: list[SitemapURL] = []
    for node in root:
        if not isinstance(node.tag, str):
            continue
        kind = etree.QName(node).localname
        if kind not in ("url", "sitemap"):
            continue
        entry = SitemapURL("")
        for child in node.iter():
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            text = (child.text or "").strip()
            if name == "loc" and not entry.loc:
                entry.loc = text
            elif name == "lastmod":
                entry.lastmod = parse_date(text)
            elif name == "publication_date":
                entry.published = parse_date(text)
            elif name == "title" and text:
                entry.title = " ".join(text.split())[:1000]
        if not is_http_url(entry.loc):
            continue
        (urls if kind == "url" else children).append(entry)
        if len(urls) + len(children) >= MAX_URLS:
            break
    error = None
    if parser.error_log and len(parser.error_log):
        error = str(parser.error_log[0])[:500]
    return Sitemap(urls, children, error)


def in_range(entry: SitemapURL, since: datetime, until: datetime | None = None) -> bool:
    """Whether the URL's date (publication date, else lastmod) falls in [since, until)."""
    when = entry.published or entry.lastmod
    if when is None:
        return False
    return when >= since and (until is None or when < until)

"""Feeds: the feeds file, OPML import, parsing any feed format, and polling one feed.

feedparser only ever receives the bytes we fetched, wrapped in ``BytesIO`` (given a string
or bytes it may open a URL or a file itself, with no limits). Before it sees them, any
DOCTYPE with entity declarations is removed (``tasks.xmlsafe``, shared with OPML and
sitemaps): feeds never need their own entities, and they are how billion-laughs and
quadratic-blowup documents expand. RSS 0.9x/2.0, RSS 1.0 (RDF)
and Atom go through feedparser (which resolves relative links against ``xml:base`` and the
feed's final URL); JSON Feed is read here. A malformed feed still yields its entries, and
the problem is recorded in the feed's health (``feeds.last_error``).
"""

from __future__ import annotations

import calendar
import io
import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import feedparser
import pyarrow as pa
from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, field_validator

from newsflow.tasks.contract import Table, to_arrow
from newsflow.tasks.decoding import is_text_charset, parse_content_type
from newsflow.tasks.normalize import is_http_url

# FeedState and Outcome are spooled rows, defined with the others (tasks/records.py).
from newsflow.tasks.records import Candidate, DateClaim, FeedState, Outcome
from newsflow.tasks.xmlsafe import UnsafeXML, strip_doctype

_SUMMARY_CHARS = 2000
# the encoding declaration of an ASCII-compatible XML document (group 1: the whole attribute)
_XML_ENCODING = re.compile(
    rb"""(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?(\s+encoding\s*=\s*["']([^"']*)["'])"""
)
# feedparser "bozo" notes that do not make a feed malformed.
_HARMLESS = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)


class FeedSpec(BaseModel):
    """One feed to poll (an entry of ``seeds/feeds.toml``)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="The feed's http(s) URL.")
    name: str | None = Field(None, description="A human name for the feed.")
    tags: list[str] = Field(default_factory=list, description="Groups, e.g. world, tech.")
    poll_minutes: int | None = Field(
        None, ge=5, description="How often a schedule should poll it (minutes)."
    )

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        value = value.strip()
        if not is_http_url(value):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return [t.strip().lower() for t in value if t.strip()]


class FeedsFile(BaseModel):
    """``seeds/feeds.toml``: ``[[feeds]]`` tables, each a ``FeedSpec``; URLs unique."""

    model_config = ConfigDict(extra="forbid")

    feeds: list[FeedSpec] = Field(default_factory=list)

    @field_validator("feeds")
    @classmethod
    def _unique(cls, value: list[FeedSpec]) -> list[FeedSpec]:
        seen: set[str] = set()
        for spec in value:
            if spec.url in seen:
                raise ValueError(f"feed listed twice: {spec.url}")
            seen.add(spec.url)
        return value


def load_feeds_file(path: Path) -> FeedsFile:
    """Read and validate a feeds file (``ValueError`` naming the problem if invalid)."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return FeedsFile.model_validate(data)


def select(specs: list[FeedSpec], tags: list[str] | None) -> list[FeedSpec]:
    """The feeds carrying any of ``tags`` (all feeds when no tags are given)."""
    if not tags:
        return list(specs)
    wanted = {t.lower() for t in tags}
    return [s for s in specs if wanted & set(s.tags)]


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def append_feeds(path: Path, specs: list[FeedSpec]) -> list[FeedSpec]:
    """Append feeds not yet in the file (by URL), keeping the file's text; returns the added."""
    existing = load_feeds_file(path).feeds if path.exists() else []
    known = {s.url for s in existing}
    added = []
    for spec in specs:
        if spec.url not in known:
            known.add(spec.url)
            added.append(spec)
    if not added:
        return []
    blocks = []
    for spec in added:
        lines = ["[[feeds]]"]
        if spec.name:
            lines.append(f"name = {_toml_str(spec.name)}")
        lines.append(f"url = {_toml_str(spec.url)}")
        if spec.tags:
            lines.append("tags = [" + ", ".join(_toml_str(t) for t in spec.tags) + "]")
        if spec.poll_minutes:
            lines.append(f"poll_minutes = {spec.poll_minutes}")
        blocks.append("\n".join(lines) + "\n")
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    text += ("\n" if text else "") + "\n".join(blocks)
    FeedsFile.model_validate(tomllib.loads(text))  # never write a file we could not read back
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return added


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=True
    )


def parse_opml(data: bytes) -> list[FeedSpec]:
    """The feeds of an OPML file: every outline with an http(s) ``xmlUrl``; enclosing
    outlines without one (folders) and ``category`` attributes become tags. Entity
    declarations are dropped first (``tasks.xmlsafe``); ``ValueError`` if that cannot be
    done or the file is not OPML."""
    root = etree.fromstring(strip_doctype(data).data, _safe_parser())
    if root is None:
        raise ValueError("not an OPML document")
    specs: list[FeedSpec] = []

    def walk(node: Any, folders: list[str]) -> None:
        for child in node:
            if not isinstance(child.tag, str) or etree.QName(child).localname != "outline":
                continue
            url = (child.get("xmlUrl") or child.get("xmlurl") or "").strip()
            label = (child.get("title") or child.get("text") or "").strip()
            if url:
                tags = list(folders)
                for cat in (child.get("category") or "").split(","):
                    tags += [p for p in cat.strip().split("/") if p]
                if is_http_url(url):
                    specs.append(FeedSpec(url=url, name=label or None, tags=sorted(set(tags))))
            walk(child, [*folders, label] if label and not url else folders)

    for body in root.iter("{*}body", "body"):
        walk(body, [])
    return specs


@dataclass(slots=True)
class FeedEntry:
    title: str | None
    link: str | None
    guid: str | None
    published: datetime | None
    updated: datetime | None
    authors: list[str] = field(default_factory=list)
    summary: str | None = None
    tags: list[str] = field(default_factory=list)
    image: str | None = None  # media:thumbnail/content, an image enclosure


def _entry_image(e: Any) -> str | None:
    """The entry's image URL (used only where the page declares none)."""
    for item in [*e.get("media_thumbnail", []), *e.get("media_content", [])]:
        url = item.get("url") if isinstance(item, dict) else None
        kind = str(item.get("medium") or item.get("type") or "image")
        if isinstance(url, str) and url.strip() and kind.startswith("image"):
            return url.strip()[:1000]
    for item in e.get("enclosures", []):
        url = item.get("href") if isinstance(item, dict) else None
        if isinstance(url, str) and url.strip() and str(item.get("type", "")).startswith("image"):
            return url.strip()[:1000]
    return None


@dataclass(slots=True)
class ParsedFeed:
    kind: str
    title: str | None
    entries: list[FeedEntry]
    error: str | None = None  # why the feed is malformed, when it is


def _struct_dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _iso_dt(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: Any, limit: int = 1000) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value[:limit] or None


def parse_feed(body: bytes, url: str, content_type: str = "") -> ParsedFeed:
    """Entries of any feed format; never raises on bad input (see ``ParsedFeed.error``)."""
    mime, _ = parse_content_type(content_type)
    if "json" in mime or body.lstrip()[:1] == b"{":
        return _parse_json_feed(body, url)
    try:
        cleaned = strip_doctype(body)
    except UnsafeXML as exc:
        return ParsedFeed("unknown", None, [], f"refused: {exc}")
    data, content_type, ignored = _text_charsets_only(cleaned.data, content_type)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    result = feedparser.parse(
        io.BytesIO(data), response_headers=headers, resolve_relative_uris=True
    )
    entries = []
    for e in result.get("entries", []):
        link = e.get("link")
        authors = [a.get("name") for a in e.get("authors", []) if a.get("name")]
        if not authors and e.get("author"):
            authors = [e.get("author")]
        entries.append(
            FeedEntry(
                title=_text(e.get("title")),
                link=link.strip() if isinstance(link, str) else None,
                guid=_text(e.get("id")),
                published=_struct_dt(e.get("published_parsed")),
                updated=_struct_dt(e.get("updated_parsed")),
                authors=[str(a)[:200] for a in authors],
                summary=_text(e.get("summary"), _SUMMARY_CHARS),
                tags=[str(t.get("term"))[:100] for t in e.get("tags", []) if t.get("term")],
                image=_entry_image(e),
            )
        )
    error = None
    bozo = result.get("bozo_exception")
    if result.get("bozo") and not isinstance(bozo, _HARMLESS):
        error = f"{type(bozo).__name__}: {bozo}"[:500]
    for problem in (ignored, cleaned.problem):
        if problem:
            error = problem + (f"; {error}" if error else "")
    version = result.get("version") or ""
    if not entries and not version:
        error = error or "not a feed"
    return ParsedFeed(
        version or "unknown", _text(result.get("feed", {}).get("title")), entries, error
    )


def _text_charsets_only(data: bytes, content_type: str) -> tuple[bytes, str, str | None]:
    """The feed and its content type without a declared charset that is not a text encoding
    (``undefined``, ``punycode``, ``hex``...: feedparser would decode with it, or fail), and
    the note of what was ignored. The bytes are then read as UTF-8 or sniffed."""
    ignored = []
    mime, charset = parse_content_type(content_type)
    if charset and not is_text_charset(charset):
        ignored.append(charset)
        content_type = mime
    match = _XML_ENCODING.match(data)
    if match and not is_text_charset(match.group(2).decode("ascii", "replace")):
        ignored.append(match.group(2).decode("ascii", "replace"))
        data = data[: match.start(1)] + data[match.end(1) :]
    if not ignored:
        return data, content_type, None
    return data, content_type, f"declared charset {', '.join(map(repr, ignored))} ignored"


def _parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return ParsedFeed("json", None, [], f"invalid JSON: {exc}"[:500])
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        return ParsedFeed("json", None, [], "not a JSON Feed (no items list)")
    entries = []
    for item in doc["items"]:
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url")
        people = item.get("authors") or ([item["author"]] if item.get("author") else [])
        tags: list[Any] = item["tags"] if isinstance(item.get("tags"), list) else []
        entries.append(
            FeedEntry(
                title=_text(item.get("title")),
                link=urljoin(url, link.strip()) if isinstance(link, str) else None,
                guid=_text(str(item["id"])) if item.get("id") is not None else None,
                published=_iso_dt(item.get("date_published")),
                updated=_iso_dt(item.get("date_modified")),
                authors=[
                    str(p.get("name"))[:200]
                    for p in people
                    if isinstance(p, dict) and p.get("name")
                ],
                summary=_text(item.get("summary") or item.get("content_text"), _SUMMARY_CHARS),
                tags=[str(t)[:100] for t in tags],
                image=_text(item.get("image") or item.get("banner_image")),
            )
        )
    version = str(doc.get("version", "json"))
    return ParsedFeed(version, _text(doc.get("title")), entries)


def entry_candidate(entry: FeedEntry, feed_url: str, now: datetime) -> Candidate | None:
    """The candidate for an entry, or None when it has no http(s) link to fetch."""
    if not entry.link or not is_http_url(entry.link):
        return None
    dates = []
    if entry.published:
        dates.append(DateClaim("published", entry.published, "feed"))
    if entry.updated:
        dates.append(DateClaim("modified", entry.updated, "feed"))
        if not entry.published:  # Atom requires only <updated>: the best date the feed has
            dates.append(DateClaim("published", entry.updated, "feed"))
    return Candidate(
        origin="feed",
        source=feed_url,
        url=entry.link,
        title=entry.title,
        dates=dates,
        feed_url=feed_url,
        guid=entry.guid,
        summary=entry.summary,
        authors=entry.authors,
        tags=entry.tags,
        image=entry.image,
        seen_at=now,
    )


def states_table(states: list[FeedState]) -> pa.Table:
    """Feed health, as it travels through the spool (``Table.FEED_STATES``)."""
    return to_arrow(Table.FEED_STATES, states)


# Reasons that say the feed itself is broken or gone, not that the server had a bad moment.
HARD_REASONS = {"blocked_private", "bad_url", "not_a_feed", "too_large", "redirect_loop"}


def classify_failure(reason: str) -> Outcome:
    if reason == "http_410":
        return "gone"
    if reason in HARD_REASONS or (reason.startswith("http_4") and reason != "http_429"):
        return "hard"
    return "soft"

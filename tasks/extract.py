"""Extraction: a page's HTML (decoded, capped ``str``) -> the article in it.

Pure: ``extract(html, url)`` does no I/O, so it can be retried, cached, run in a worker
process and tested alone. trafilatura is never given bytes (it would decompress anything
gzip-like without a cap) and never run from several threads at once (lxml segfaults).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version

import trafilatura

from tasks.errors import BadInput
from tasks.records import DateClaim

EXTRACTOR_VERSION = f"trafilatura-{version('trafilatura')}"


@dataclass(slots=True)
class Extracted:
    """What a page says about its article."""

    text: str
    title: str | None = None
    dates: list[DateClaim] = field(default_factory=list)
    canonical_url: str | None = None
    authors: list[str] = field(default_factory=list)
    site_name: str | None = None
    description: str | None = None
    image: str | None = None
    tags: list[str] = field(default_factory=list)
    extractor: str = EXTRACTOR_VERSION


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def extract(html: str, url: str) -> Extracted:
    """The main text and metadata of a page; ``BadInput`` (``empty_text``) if it has none."""
    doc = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=True
    )
    text = getattr(doc, "text", None) if doc is not None else None
    if not text or not text.strip():
        raise BadInput(url, "no article text found in the page", reason="empty_text")
    assert doc is not None
    dates = []
    published = _date(getattr(doc, "date", None))
    if published is not None:
        dates.append(DateClaim("published", published, "htmldate"))
    authors = [a.strip() for a in (getattr(doc, "author", None) or "").split(";") if a.strip()]
    return Extracted(
        text=text,
        title=getattr(doc, "title", None),
        dates=dates,
        canonical_url=getattr(doc, "url", None),
        authors=authors,
        site_name=getattr(doc, "sitename", None),
        description=getattr(doc, "description", None),
        image=getattr(doc, "image", None),
        tags=list(getattr(doc, "tags", None) or []),
    )

"""Sitemap intake: the crawl of a sitemap or sitemap index for article URLs in a date range."""

from __future__ import annotations

import asyncio
from datetime import datetime

from newsflow.tasks.errors import item_error
from newsflow.tasks.fetcher import Fetcher
from newsflow.tasks.sitemaps import SitemapURL, in_range, parse_sitemap


async def sitemap_urls(
    fetcher: Fetcher,
    url: str,
    since: datetime,
    until: datetime | None = None,
    *,
    max_sitemaps: int = 100,
) -> tuple[list[SitemapURL], list[str]]:
    """Article URLs dated in [since, until) from a sitemap or sitemap index (followed
    breadth-first, at most ``max_sitemaps`` files fetched; an index entry whose lastmod is
    before ``since`` is skipped). Returns the URLs and the problems met, one line each
    (``URL: reason`` or ``URL: reason (detail)`` or ``URL: parse message``); sitemaps left
    unread at the limit are one ``sitemap_limit`` problem of ``url``."""
    queue, seen = [url], {url}
    found: list[SitemapURL] = []
    problems: list[str] = []
    fetched = 0
    while queue and fetched < max_sitemaps:
        current = queue.pop(0)
        fetched += 1
        try:
            resp = await fetcher.resource(current)
            doc = await asyncio.to_thread(parse_sitemap, resp.body, cap=fetcher.settings.max_bytes)
        except Exception as exc:  # one sitemap's problem, whatever it is, is only its own
            error = item_error(exc, current)
            problems.append(f"{current}: {error.reason}")
            continue
        if doc.error:
            problems.append(f"{current}: {doc.error}")
        found += [u for u in doc.urls if in_range(u, since, until)]
        for child in doc.sitemaps:
            if child.loc not in seen and (child.lastmod is None or child.lastmod >= since):
                seen.add(child.loc)
                queue.append(child.loc)
    if queue:
        reason = "sitemap_limit"
        problems.append(
            f"{url}: {reason} ({len(queue)} sitemaps not read: the limit of "
            f"{max_sitemaps} sitemap files per root was reached)"
        )
    return found, problems

"""Backfill from sitemaps: a site's sitemaps and their URLs dated in a range by day (which of
those the warehouse has not seen yet: ``warehouse.queries.unseen_sitemap_urls``).

Reading goes through ``tasks.sitemap_intake.sitemap_urls`` (sitemap indexes followed, gzip,
robots and politeness); a URL's day is its news publication date, else its ``lastmod``
(UTC). A URL the warehouse already has (loaded, or seen for an article) is not fetched again,
and neither is one already rejected: trying failed URLs again is the ``refetch`` backfill's
job. So the same scan run twice fetches nothing the second time.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from newsflow.settings import Settings
from newsflow.tasks.enrich import registered_domain
from newsflow.tasks.errors import item_error
from newsflow.tasks.fetcher import Fetcher
from newsflow.tasks.hosttimes import HostTimes
from newsflow.tasks.normalize import canonical_url, is_http_url
from newsflow.tasks.records import Candidate, DateClaim, RejectRow
from newsflow.tasks.revisions import day_bounds
from newsflow.tasks.sitemap_intake import sitemap_urls
from newsflow.tasks.sitemaps import SitemapURL

STAGE = "sitemap"  # the rejects' stage for sitemaps that could not be read
DATE_SOURCE = "sitemap"  # a news:publication_date claim (ranks after the page's own dates)
_REASON = re.compile(r"[a-z][a-z0-9_]*")


@dataclass
class Scan:
    """What the sitemaps of a backfill gave: URLs by day, the sitemaps asked, problems."""

    by_day: dict[date, list[SitemapURL]] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)  # the sitemaps read first
    rejects: list[RejectRow] = field(default_factory=list)  # sitemaps that could not be read

    @property
    def urls(self) -> int:
        return sum(len(entries) for entries in self.by_day.values())


async def site_sitemaps(fetcher: Fetcher, site: str) -> list[str]:
    """The sitemaps of a site (an origin, ``https://example.com``): the ``Sitemap:`` lines of
    its robots.txt, else ``<site>/sitemap.xml``."""
    rules = await fetcher.robots.rules(f"{site}/")
    listed = [u.strip() for u in rules.sitemaps if is_http_url(u.strip())]
    return list(dict.fromkeys(listed)) or [f"{site}/sitemap.xml"]


def entry_day(entry: SitemapURL) -> date | None:
    when = entry.published or entry.lastmod
    return when.astimezone(UTC).date() if when else None


def problem_reject(problem: str, run_id: str, now: datetime) -> RejectRow:
    """``sitemap_urls``' problem line (``URL: reason``, ``URL: reason (detail)`` or
    ``URL: parse message``) as a reject."""
    source, _, rest = problem.partition(": ")
    if _REASON.fullmatch(rest):
        return RejectRow(source, STAGE, rest, f"sitemap not read: {rest}", run_id, now)
    reason, _, detail = rest.partition(" (")
    if _REASON.fullmatch(reason) and detail.endswith(")"):
        return RejectRow(source, STAGE, reason, detail[:-1][:500], run_id, now)
    return RejectRow(source, STAGE, "parse_error", rest[:500], run_id, now)


async def scan(
    settings: Settings,
    first: date,
    last: date,
    run_id: str,
    *,
    sitemaps: list[str],
    domains: list[str],
    timings: HostTimes | None = None,
    max_sitemaps: int = 100,
) -> Scan:
    """The URLs dated in the days ``first`` to ``last`` (included) of ``sitemaps``, else of
    the sitemaps of ``domains``; only URLs of ``domains`` when some are given."""
    now = datetime.now(UTC)
    since, until = day_bounds(first)[0], day_bounds(last)[1]
    result = Scan()
    wanted = set(domains)
    async with Fetcher(settings, timings=timings) as fetcher:
        roots = list(sitemaps)
        for domain in [] if sitemaps else domains:
            site = f"https://{domain}"
            try:
                roots += await site_sitemaps(fetcher, site)
            except Exception as exc:  # one site's problem, whatever it is, is only its own
                error = item_error(exc, site)
                result.rejects.append(
                    RejectRow(site, STAGE, error.reason, error.detail, run_id, now)
                )
        result.roots = list(dict.fromkeys(roots))
        read: list[Any] = await asyncio.gather(
            *(
                sitemap_urls(fetcher, root, since, until, max_sitemaps=max_sitemaps)
                for root in result.roots
            )
        )
    seen: set[str] = set()
    for found, problems in read:
        result.rejects += [problem_reject(p, run_id, now) for p in problems]
        for entry in found:
            key = canonical_url(entry.loc)
            day = entry_day(entry)
            if day is None or key in seen:
                continue
            if wanted and registered_domain(entry.loc) not in wanted:
                continue
            seen.add(key)
            result.by_day.setdefault(day, []).append(entry)
    return result


def candidate(entry: SitemapURL, now: datetime) -> Candidate:
    """A sitemap URL to fetch; its news title and publication date go along as claims."""
    dates = [DateClaim("published", entry.published, DATE_SOURCE)] if entry.published else []
    return Candidate(
        origin="url", source=entry.loc, url=entry.loc, title=entry.title, dates=dates, seen_at=now
    )

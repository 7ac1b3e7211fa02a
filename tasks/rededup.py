"""Dedup and enrichment again over stored article text (the backfill's ``rededup`` mode).

The text in the warehouse stays as it is; what is recomputed from it is everything derived:
``content_hash``, ``word_count``, ``language`` and ``domain``. Workers only read the
warehouse (read-only) and spool ``revisions`` rows; the loader applies the rows that differ
and re-points exact duplicates (``duplicate_of``) inside the content-hash groups they touch,
so running the same chunk twice changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from tasks.contract import Table, to_arrow
from tasks.enrich import detect_language, registered_domain
from tasks.normalize import content_hash, word_count
from tasks.records import RevisionRow

REVISIONS = Table.REVISIONS


@dataclass(frozen=True, slots=True)
class StoredArticle:
    article_id: str
    canonical_url: str
    text: str


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants a calendar day spans, [start, end)."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def select_day(
    con: duckdb.DuckDBPyConnection,
    day: date,
    domains: list[str] | None = None,
    feeds: list[str] | None = None,
) -> list[StoredArticle]:
    """Articles published on ``day`` (UTC), optionally only of some domains or feeds."""
    start, end = day_bounds(day)
    sql = (
        "SELECT article_id, canonical_url, text FROM articles "
        "WHERE published_at >= ? AND published_at < ?"
    )
    params: list[Any] = [start, end]
    if domains:
        sql += " AND domain IN (SELECT unnest(?::VARCHAR[]))"
        params.append(domains)
    if feeds:
        sql += (
            " AND article_id IN (SELECT article_id FROM article_sightings "
            "WHERE feed_url IN (SELECT unnest(?::VARCHAR[])))"
        )
        params.append(feeds)
    rows = con.execute(sql + " ORDER BY article_id", params).fetchall()
    return [StoredArticle(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class StoredPage:
    article_id: str
    url: str
    canonical_url: str
    origin: str
    fetched_at: datetime
    html_zstd: bytes


def _filters(domains: list[str] | None, feeds: list[str] | None) -> tuple[str, list[Any]]:
    sql, params = "", []
    if domains:
        sql += " AND a.domain IN (SELECT unnest(?::VARCHAR[]))"
        params.append(domains)
    if feeds:
        sql += (
            " AND a.article_id IN (SELECT article_id FROM article_sightings "
            "WHERE feed_url IN (SELECT unnest(?::VARCHAR[])))"
        )
        params.append(feeds)
    return sql, params


def select_day_pages(
    con: duckdb.DuckDBPyConnection,
    day: date,
    domains: list[str] | None = None,
    feeds: list[str] | None = None,
) -> list[StoredPage]:
    """The latest stored HTML of every article published on ``day`` (UTC) that has one."""
    start, end = day_bounds(day)
    where, params = _filters(domains, feeds)
    rows = con.execute(
        "SELECT a.article_id, a.url, a.canonical_url, a.origin, p.fetched_at, p.html_zstd "
        "FROM articles a JOIN (SELECT article_id, arg_max(html_zstd, fetched_at) AS html_zstd, "
        "  max(fetched_at) AS fetched_at FROM raw_pages WHERE article_id IS NOT NULL "
        "  GROUP BY article_id) p USING (article_id) "
        "WHERE a.published_at >= ? AND a.published_at < ?" + where + " ORDER BY a.article_id",
        [start, end, *params],
    ).fetchall()
    return [StoredPage(*row) for row in rows]


def revise(articles: list[StoredArticle]) -> pa.Table:
    """What dedup and enrichment make of the stored texts today."""
    rows = []
    for article in articles:
        language, confidence = detect_language(article.text)
        rows.append(
            RevisionRow(
                article.article_id,
                registered_domain(article.canonical_url),
                language,
                confidence,
                word_count(article.text),
                content_hash(article.text),
            )
        )
    return to_arrow(Table.REVISIONS, rows)


def normalize_domain(value: str) -> str:
    """A domain as the warehouse stores it: ``https://www.BBC.co.uk/x`` -> ``bbc.co.uk``."""
    value = value.strip().lower()
    url = value if "://" in value else f"http://{value}"
    return registered_domain(url) or value


# Reasons no second try can change (the URL itself is unusable, or never to be fetched).
NEVER_REFETCH = ("bad_url", "blocked_private")


def select_failed(
    con: duckdb.DuckDBPyConnection, day: date, domains: list[str] | None = None
) -> list[str]:
    """URLs whose fetch or extraction failed on ``day`` (UTC) and that are still not loaded
    (neither as an article's URL nor as a URL seen for one), optionally of some domains."""
    start, end = day_bounds(day)
    rows = con.execute(
        "SELECT DISTINCT source FROM rejects WHERE rejected_at >= ? AND rejected_at < ? "
        "AND stage IN ('fetch', 'extract') AND reason NOT IN (SELECT unnest(?::VARCHAR[])) "
        "AND (source LIKE 'http://%' OR source LIKE 'https://%') "
        "AND source NOT IN (SELECT url FROM articles UNION ALL SELECT canonical_url FROM articles "
        "  UNION ALL SELECT url_seen FROM article_sightings) ORDER BY source",
        [start, end, list(NEVER_REFETCH)],
    ).fetchall()
    urls = [str(r[0]) for r in rows]
    if domains:
        wanted = set(domains)
        urls = [u for u in urls if registered_domain(u) in wanted]
    return urls

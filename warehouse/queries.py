"""The warehouse as the flows see it: every read a flow makes, and the run-row writes around a
run, each over a short connection of its own. Flows call these and never open a connection or
write SQL themselves.

Reads answer "nothing known" when there is no warehouse yet. ``wait`` is how long a call waits
for a load holding the file (``Settings.lock_wait``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from newsflow.tasks.enrich import registered_domain
from newsflow.tasks.normalize import canonical_url
from newsflow.tasks.revisions import StoredArticle, day_bounds
from newsflow.tasks.sitemaps import SitemapURL
from newsflow.warehouse import runs as run_ledger
from newsflow.warehouse import storage
from newsflow.warehouse.db import connect_reader, connect_writer
from newsflow.warehouse.loader import LoadReport, RunRow, load_batches
from newsflow.warehouse.stories import Representatives

log = logging.getLogger(__name__)

OnWait = Callable[[str, float], None]


@contextmanager
def _reading(db: Path, wait: float) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect_reader(db, wait=wait)
    try:
        yield con
    finally:
        con.close()


def _rows(db: Path, wait: float, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Rows, read-only; none when there is no warehouse yet, or one from before the columns
    asked for (nothing known yet)."""
    if not storage.exists(db):
        return []
    with _reading(db, wait) as con:
        try:
            rows: list[tuple[Any, ...]] = con.execute(sql, params).fetchall()
        except Exception:  # e.g. a warehouse from before the feed columns
            return []
    return rows


# -- feeds -----------------------------------------------------------------------------------


def feed_validators(db: Path, wait: float, urls: list[str]) -> dict[str, tuple[Any, ...]]:
    """url -> (etag, last_modified, quarantined_until) of the feeds the warehouse knows."""
    rows = _rows(
        db,
        wait,
        "SELECT url, etag, last_modified, quarantined_until FROM feeds WHERE url IN "
        "(SELECT unnest(?::VARCHAR[]))",
        [urls],
    )
    return {r[0]: r[1:] for r in rows}


def known_articles(db: Path, wait: float, canonicals: list[str], urls: list[str]) -> dict[str, str]:
    """canonical URL of a link -> article_id, for links already loaded (by canonical URL or
    as a URL seen before, e.g. a feed link that redirects to the article)."""
    rows = _rows(
        db,
        wait,
        "SELECT canonical_url, article_id FROM articles WHERE canonical_url IN "
        "(SELECT unnest(?::VARCHAR[])) UNION ALL "
        "SELECT url_seen, any_value(article_id) FROM article_sightings WHERE url_seen IN "
        "(SELECT unnest(?::VARCHAR[])) GROUP BY url_seen",
        [canonicals, urls],
    )
    return {canonical_url(key): aid for key, aid in rows}


def stored_feed_health(db: Path, wait: float, urls: list[str]) -> dict[str, tuple[Any, ...]]:
    """url -> (quarantined_until, consecutive_failures, last_error, name) after a load."""
    if not urls or not storage.exists(db):
        return {}
    with _reading(db, wait) as con:
        found = con.execute(
            "SELECT url, quarantined_until, consecutive_failures, last_error, name FROM feeds "
            "WHERE url IN (SELECT unnest(?::VARCHAR[]))",
            [urls],
        ).fetchall()
    return {row[0]: row[1:] for row in found}


FEEDS_DUE_FOR_REPROBE = (
    "SELECT url FROM feeds WHERE quarantined_until IS NOT NULL "
    "AND quarantined_until <= now() ORDER BY url"
)


def feeds_due_for_reprobe(db: Path, wait: float) -> list[str]:
    """Quarantined feeds whose quarantine has run out (on a file or a lake)."""
    return [str(r[0]) for r in _rows(db, wait, FEEDS_DUE_FOR_REPROBE, [])]


# -- sites -----------------------------------------------------------------------------------


def known_sites(db: Path, domains: list[str], *, wait: float) -> set[str]:
    """Those of ``domains`` (as ``articles.domain`` stores them) that have an article, or a
    failed page (a ``rejects`` URL on the site or a subdomain of it)."""
    if not domains or not storage.exists(db):
        return set()
    with _reading(db, wait) as con:
        rows = con.execute(
            "SELECT DISTINCT domain FROM articles WHERE domain IN (SELECT unnest(?::VARCHAR[]))",
            [domains],
        ).fetchall()
        found = {str(r[0]) for r in rows}
        for domain in domains:
            if domain in found:
                continue
            pattern = rf"^https?://([^/@]*\.)?{re.escape(domain)}(:\d+)?(/|$)"
            hit = con.execute(
                "SELECT 1 FROM rejects WHERE regexp_matches(source, ?) LIMIT 1", [pattern]
            ).fetchone()
            if hit:
                found.add(domain)
    return found


# -- the backfill's days ----------------------------------------------------------------------


def day_articles(
    db: Path, wait: float, day: date, domains: list[str], feeds: list[str]
) -> list[StoredArticle]:
    """Articles published on ``day`` (UTC), optionally only of some domains or feeds, as the
    rededup stage recomputes them."""
    select = "SELECT a.article_id, a.canonical_url, a.text FROM articles a"
    return [StoredArticle(*row) for row in _day_rows(db, wait, select, day, domains, feeds)]


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


def day_pages(
    db: Path, wait: float, day: date, domains: list[str], feeds: list[str]
) -> list[StoredPage]:
    """The latest stored HTML of every article published on ``day`` (UTC) that has one."""
    select = (
        "SELECT a.article_id, a.url, a.canonical_url, a.origin, p.fetched_at, p.html_zstd "
        "FROM articles a JOIN (SELECT article_id, arg_max(html_zstd, fetched_at) AS html_zstd, "
        "  max(fetched_at) AS fetched_at FROM raw_pages WHERE article_id IS NOT NULL "
        "  GROUP BY article_id) p USING (article_id)"
    )
    return [StoredPage(*row) for row in _day_rows(db, wait, select, day, domains, feeds)]


def _day_rows(
    db: Path, wait: float, select: str, day: date, domains: list[str], feeds: list[str]
) -> list[tuple[Any, ...]]:
    """``select`` (over ``articles a``) for the articles published on ``day`` (UTC), of
    ``domains`` and seen in ``feeds`` if given, in article id order."""
    if not storage.exists(db):
        return []
    start, end = day_bounds(day)
    where, params = _filters(domains, feeds)
    with _reading(db, wait) as con:
        rows: list[tuple[Any, ...]] = con.execute(
            f"{select} WHERE a.published_at >= ? AND a.published_at < ?{where} "
            "ORDER BY a.article_id",
            [start, end, *params],
        ).fetchall()
    return rows


# Reasons no second try can change (the URL itself is unusable, or never to be fetched).
NEVER_REFETCH = ("bad_url", "blocked_private")


def failed_urls(db: Path, wait: float, day: date, domains: list[str]) -> list[str]:
    """URLs whose fetch or extraction failed on ``day`` (UTC) and that are still not loaded
    (neither as an article's URL nor as a URL seen for one), optionally of some domains."""
    if not storage.exists(db):
        return []
    start, end = day_bounds(day)
    with _reading(db, wait) as con:
        rows = con.execute(
            "SELECT DISTINCT source FROM rejects WHERE rejected_at >= ? AND rejected_at < ? "
            "AND stage IN ('fetch', 'extract') AND reason NOT IN (SELECT unnest(?::VARCHAR[])) "
            "AND (source LIKE 'http://%' OR source LIKE 'https://%') "
            "AND source NOT IN (SELECT url FROM articles UNION ALL SELECT canonical_url "
            "  FROM articles UNION ALL SELECT url_seen FROM article_sightings) ORDER BY source",
            [start, end, list(NEVER_REFETCH)],
        ).fetchall()
    urls = [str(r[0]) for r in rows]
    if domains:
        wanted = set(domains)
        urls = [u for u in urls if registered_domain(u) in wanted]
    return urls


@dataclass
class Unseen:
    """A day's sitemap URLs: those to fetch, and how many the warehouse has already."""

    fresh: list[SitemapURL]
    loaded: int  # already articles (or seen for one)
    failed: int  # already rejected: for the refetch backfill


def unseen_sitemap_urls(db: Path, wait: float, entries: list[SitemapURL]) -> Unseen:
    """The entries the warehouse has neither loaded nor rejected (all of them when there is
    no warehouse yet)."""
    if not storage.exists(db):
        return Unseen(list(entries), 0, 0)
    if not entries:
        return Unseen([], 0, 0)
    keys = sorted({e.loc for e in entries} | {canonical_url(e.loc) for e in entries})
    with _reading(db, wait) as con:
        loaded = _present(
            con,
            keys,
            "SELECT canonical_url FROM articles UNION ALL SELECT url FROM articles "
            "UNION ALL SELECT url_seen FROM article_sightings",
        )
        failed = _present(con, keys, "SELECT source FROM rejects")
    fresh: list[SitemapURL] = []
    n_loaded = n_failed = 0
    for entry in entries:
        if entry.loc in loaded or canonical_url(entry.loc) in loaded:
            n_loaded += 1
        elif entry.loc in failed or canonical_url(entry.loc) in failed:
            n_failed += 1
        else:
            fresh.append(entry)
    return Unseen(fresh, n_loaded, n_failed)


def _present(con: duckdb.DuckDBPyConnection, keys: list[str], sql: str) -> set[str]:
    rows = con.execute(
        f"SELECT k FROM (SELECT unnest(?::VARCHAR[]) AS k) WHERE k IN ({sql})", [keys]
    ).fetchall()
    return {str(r[0]) for r in rows}


# -- the run's row ---------------------------------------------------------------------------


def start_run_row(
    db: Path,
    wait: float,
    run_id: str,
    flow: str,
    started_at: datetime,
    *,
    lake_data: str | None = None,
) -> int:
    """The run's ``running`` row (with this process); runs whose process is gone are marked
    ``abandoned`` first: returns how many. Raises ``WarehouseLocked`` past ``wait``.
    ``lake_data``: a lake's data path (``NEWSFLOW_LAKE_DATA``), for a lake not yet created."""
    con = connect_writer(db, wait, lake_data=lake_data)
    try:
        return run_ledger.start_run(con, run_id, flow, started_at)
    finally:
        con.close()


def record_failed_run(
    db: Path,
    wait: float,
    run: RunRow,
    finished_at: datetime,
    error: str,
    *,
    lake_data: str | None = None,
) -> None:
    """The run's row marked ``failed`` with its error and its counts so far."""
    con = connect_writer(db, wait, lake_data=lake_data)
    try:
        run_ledger.record(
            con,
            run.run_id,
            run.flow,
            run.started_at,
            finished_at,
            "failed",
            run.items,
            LoadReport(),
            error=error,
        )
    finally:
        con.close()


# Measured on 10,000 seed articles: a writer connection kept open for the whole run grew
# the process by ~250 MB; reopened every 4 batches (~0.2 s each time) it stays flat.
BATCHES_PER_CONNECTION = 4


class BatchWriter:
    """Loads spooled batches one at a time over a writer connection that stays open while
    batches keep coming (for at most ``BATCHES_PER_CONNECTION``: DuckDB's memory grows with a
    connection's writes) and closes when told the caller has caught up, so readers get their
    turn between bursts. Used from one thread."""

    def __init__(
        self,
        db: Path,
        spool: str,
        wait: float,
        on_wait: OnWait | None,
        *,
        lake_data: str | None = None,
    ) -> None:
        self._db, self._spool, self._wait, self._on_wait = db, spool, wait, on_wait
        self._lake_data = lake_data
        self._con: duckdb.DuckDBPyConnection | None = None
        self._loads = 0
        # kept across the run's batches: popular stories come back batch after batch
        self._representatives = Representatives()

    def load(self, batch_id: str, run: RunRow, *, last: bool) -> LoadReport:
        """Merge one batch; ``last``: nothing else is queued, so the connection closes after."""
        try:
            if self._con is None:
                self._con = connect_writer(
                    self._db, self._wait, self._on_wait, lake_data=self._lake_data
                )
                self._loads = 0
            self._loads += 1
            last = last or self._loads >= BATCHES_PER_CONNECTION
            # one thread: the run's workers have the cores (``load_batches``)
            return load_batches(
                self._con,
                self._spool,
                [batch_id],
                run=run,
                threads=1,
                representatives=self._representatives,
            )
        except Exception:
            last = True
            raise
        finally:
            if last:
                self.close()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

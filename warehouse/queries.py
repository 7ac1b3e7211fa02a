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
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from tasks import rededup, sitemapscan
from tasks.normalize import canonical_url
from tasks.sitemaps import SitemapURL
from warehouse import runs as run_ledger
from warehouse.db import connect_reader, connect_writer
from warehouse.loader import LoadReport, RunRow, load_batches

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
    if not db.exists():
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
    if not urls or not db.exists():
        return {}
    with _reading(db, wait) as con:
        found = con.execute(
            "SELECT url, quarantined_until, consecutive_failures, last_error, name FROM feeds "
            "WHERE url IN (SELECT unnest(?::VARCHAR[]))",
            [urls],
        ).fetchall()
    return {row[0]: row[1:] for row in found}


def feeds_due_for_reprobe(db: Path, wait: float) -> list[str]:
    """Quarantined feeds whose quarantine has run out."""
    if not db.exists():
        return []
    with _reading(db, wait) as con:
        rows = con.execute(
            "SELECT url FROM feeds WHERE quarantined_until IS NOT NULL "
            "AND quarantined_until <= now() ORDER BY url"
        ).fetchall()
    return [str(r[0]) for r in rows]


# -- sites -----------------------------------------------------------------------------------


def known_sites(db: Path, domains: list[str], *, wait: float) -> set[str]:
    """Those of ``domains`` (as ``articles.domain`` stores them) that have an article, or a
    failed page (a ``rejects`` URL on the site or a subdomain of it)."""
    if not domains or not db.exists():
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


# -- the backfill's days (the selections are the stage's, tasks/rededup.py) ------------------


def day_articles(
    db: Path, wait: float, day: date, domains: list[str], feeds: list[str]
) -> list[rededup.StoredArticle]:
    """The stored articles of a publication day, as the rededup stage recomputes them."""
    if not db.exists():
        return []
    with _reading(db, wait) as con:
        return rededup.select_day(con, day, domains, feeds)


def day_pages(
    db: Path, wait: float, day: date, domains: list[str], feeds: list[str]
) -> list[rededup.StoredPage]:
    """The stored pages of a publication day's articles, for extracting again."""
    if not db.exists():
        return []
    with _reading(db, wait) as con:
        return rededup.select_day_pages(con, day, domains, feeds)


def failed_urls(db: Path, wait: float, day: date, domains: list[str]) -> list[str]:
    """URLs that failed on ``day`` and are still not loaded."""
    if not db.exists():
        return []
    with _reading(db, wait) as con:
        return rededup.select_failed(con, day, domains)


def unseen_sitemap_urls(db: Path, wait: float, entries: list[SitemapURL]) -> sitemapscan.Unseen:
    """The sitemap entries the warehouse has neither loaded nor rejected."""
    if not db.exists():
        return sitemapscan.Unseen(list(entries), 0, 0)
    with _reading(db, wait) as con:
        return sitemapscan.unseen(con, entries)


# -- the run's row ---------------------------------------------------------------------------


def start_run_row(db: Path, wait: float, run_id: str, flow: str, started_at: datetime) -> int:
    """The run's ``running`` row (with this process); runs whose process is gone are marked
    ``abandoned`` first: returns how many. Raises ``WarehouseLocked`` past ``wait``."""
    con = connect_writer(db, wait)
    try:
        return run_ledger.start_run(con, run_id, flow, started_at)
    finally:
        con.close()


def record_failed_run(
    db: Path, wait: float, run: RunRow, finished_at: datetime, error: str
) -> None:
    """The run's row marked ``failed`` with its error and its counts so far."""
    con = connect_writer(db, wait)
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

    def __init__(self, db: Path, spool: str, wait: float, on_wait: OnWait | None) -> None:
        self._db, self._spool, self._wait, self._on_wait = db, spool, wait, on_wait
        self._con: duckdb.DuckDBPyConnection | None = None
        self._loads = 0

    def load(self, batch_id: str, run: RunRow, *, last: bool) -> LoadReport:
        """Merge one batch; ``last``: nothing else is queued, so the connection closes after."""
        try:
            if self._con is None:
                self._con = connect_writer(self._db, self._wait, self._on_wait)
                self._loads = 0
            self._loads += 1
            last = last or self._loads >= BATCHES_PER_CONNECTION
            # one thread: the run's workers have the cores (``load_batches``)
            return load_batches(self._con, self._spool, [batch_id], run=run, threads=1)
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

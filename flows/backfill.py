"""Flow ``backfill``: redo a stage for a range of publication days.

Launched from the Prefect UI (deployment ``backfill``, whose form is ``BackfillRequest``) or
locally with ``newsflow backfill``. The range fans out into one task per day; each day's work
is idempotent (it recomputes from what is stored and the loader applies only differences),
so running the same backfill twice changes nothing the second time.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flows.common import BackgroundLoader, RunSummary, bounded_map, current_run_id, finish
from newsflow import progress
from newsflow.settings import Settings
from tasks import rededup
from tasks.errors import retry_transient
from tasks.hosttimes import HostTimes, merge
from tasks.normalize import is_http_url
from tasks.records import Batch
from tasks.sitemaps import SitemapURL
from tasks.spool import write_batch

MAX_DAYS = 366


class BackfillMode(StrEnum):
    """What to redo for the articles of each day."""

    reextract = "reextract"
    refetch = "refetch"
    sitemaps = "sitemaps"
    rededup = "rededup"


MODE_HELP = {
    BackfillMode.reextract: "re-extract the stored HTML of the day's articles",
    BackfillMode.refetch: "fetch again the URLs that failed (rejects) on the days of the range "
    "and are still not loaded",
    BackfillMode.sitemaps: "read the sitemaps given (else those of the domains: their "
    "robots.txt Sitemap lines, else /sitemap.xml) for URLs dated in the range (news "
    "publication date, else lastmod) and fetch the ones not yet loaded or tried",
    BackfillMode.rededup: "recompute dedup and enrichment from the stored article text",
}
# Modes whose stages this version has; the others fail clearly instead of pretending.
AVAILABLE_MODES = frozenset(BackfillMode)


class ModeNotAvailable(ValueError):
    """The requested mode needs a stage this installation does not have."""

    def __init__(self, mode: BackfillMode) -> None:
        available = ", ".join(sorted(m.value for m in AVAILABLE_MODES))
        super().__init__(
            f"backfill mode {mode.value!r} ({MODE_HELP[mode]}) is not available in this "
            f"version; available: {available}"
        )
        self.mode = mode


class BackfillRequest(BaseModel):
    """A backfill: which days, which articles, and what to redo for them."""

    model_config = ConfigDict(title="Backfill", extra="forbid", use_enum_values=False)

    since: date = Field(
        title="First day",
        description="First day to backfill (UTC), included: the day articles were published "
        "(rededup, reextract, sitemaps) or the day items failed (refetch).",
    )
    until: date | None = Field(
        default=None,
        title="Last day",
        description="Last day to backfill (UTC), included. Empty: the first day only.",
    )
    domains: list[str] = Field(
        default_factory=list,
        title="Domains",
        description="Only articles of these sites, e.g. bbc.co.uk (www. and paths are ignored). "
        "Empty: every site.",
    )
    feeds: list[str] = Field(
        default_factory=list,
        title="Feeds",
        description="Only articles seen in these feeds (feed URLs); not for refetch. "
        "Empty: from any source.",
    )
    sitemaps: list[str] = Field(
        default_factory=list,
        title="Sitemaps",
        description="For mode sitemaps only: sitemap or sitemap index URLs to read (plain, "
        "gzipped or text), e.g. https://example.com/news-sitemap.xml. Empty: the sitemaps "
        "of each site in Domains (its robots.txt Sitemap lines, else "
        "https://<domain>/sitemap.xml). With Domains too, only those sites' URLs are kept.",
    )
    mode: BackfillMode = Field(
        default=BackfillMode.rededup,
        title="Mode",
        description="What to redo: "
        + "; ".join(f"{m.value}: {text}" for m, text in MODE_HELP.items())
        + ". The default, rededup, reads no network.",
    )

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return sorted({rededup.normalize_domain(d) for d in value if d.strip()})

    @field_validator("feeds")
    @classmethod
    def _feeds(cls, value: list[str]) -> list[str]:
        return sorted({f.strip() for f in value if f.strip()})

    @field_validator("sitemaps")
    @classmethod
    def _sitemaps(cls, value: list[str]) -> list[str]:
        urls = list(dict.fromkeys(u.strip() for u in value if u.strip()))
        bad = [u for u in urls if not is_http_url(u)]
        if bad:
            raise ValueError(f"a sitemap must be an http(s) URL, got {bad[0]!r}")
        return urls

    @model_validator(mode="after")
    def _range(self) -> BackfillRequest:
        if self.feeds and self.mode is BackfillMode.refetch:
            raise ValueError("refetch selects failed URLs by domain; feeds do not apply to it")
        if self.mode is BackfillMode.sitemaps:
            if self.feeds:
                raise ValueError("sitemaps reads sites' sitemaps; feeds do not apply to it")
            if not self.sitemaps and not self.domains:
                raise ValueError("mode sitemaps needs sitemap URLs or domains to read them from")
        elif self.sitemaps:
            raise ValueError("sitemap URLs apply only to mode sitemaps")
        last = self.until or self.since
        if last < self.since:
            raise ValueError(f"the last day ({last}) is before the first ({self.since})")
        if (last - self.since).days + 1 > MAX_DAYS:
            raise ValueError(f"at most {MAX_DAYS} days per backfill; split the range")
        return self

    def days(self) -> list[date]:
        last = self.until or self.since
        return [self.since + timedelta(days=n) for n in range((last - self.since).days + 1)]


def check_mode(mode: BackfillMode) -> None:
    if mode not in AVAILABLE_MODES:
        raise ModeNotAvailable(mode)


@task(
    name="rededup-day",
    task_run_name="rededup-{day}",
    retries=2,
    retry_condition_fn=retry_transient,
)
def rededup_day(
    day: date, domains: list[str], feeds: list[str], run_id: str, settings: Settings
) -> int:
    """One day's articles: recompute, spool the revisions; returns the articles considered."""
    from warehouse.db import connect_reader

    db = Path(settings.db)
    if not db.exists():
        return 0
    con = connect_reader(db, wait=settings.lock_wait)
    try:
        stored = rededup.select_day(con, day, domains, feeds)
    finally:
        con.close()
    size = settings.batch_size
    for i in range(0, len(stored), size):
        table = rededup.revise(stored[i : i + size])
        write_batch(Batch(run_id=run_id), settings.spool, extra={rededup.REVISIONS: table})
    return len(stored)


@task(name="request-relink")
def request_relink(run_id: str, settings: Settings) -> None:
    """Spool the request to recompute every duplicate link (after the days' revisions): a
    link depends on every earlier article, so the loader redoes them all, in ingest order
    (warehouse/stories.py ``relink``)."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from warehouse.stories import RELINK, RELINK_SCHEMA

    table = pa.table({"run_id": [run_id], "requested_at": [datetime.now(UTC)]}, RELINK_SCHEMA)
    write_batch(Batch(run_id=run_id), settings.spool, extra={RELINK: table})


@task(
    name="refetch-day",
    task_run_name="refetch-{day}",
    retries=1,
    retry_condition_fn=retry_transient,
)
def refetch_day(
    day: date, domains: list[str], run_id: str, settings: Settings
) -> tuple[int, HostTimes]:
    """One day's failed URLs, fetched again; returns how many were tried and the request
    times per host."""
    from datetime import UTC, datetime

    from tasks.fetch import fetch_and_process
    from tasks.records import Candidate
    from warehouse.db import connect_reader

    db = Path(settings.db)
    times: HostTimes = {}
    if not db.exists():
        return 0, times
    con = connect_reader(db, wait=settings.lock_wait)
    try:
        urls = rededup.select_failed(con, day, domains)
    finally:
        con.close()
    size = settings.batch_size
    for i in range(0, len(urls), size):
        now = datetime.now(UTC)
        items = [Candidate(origin="url", source=u, url=u, seen_at=now) for u in urls[i : i + size]]
        batch = fetch_and_process(items, settings, run_id, now=now, spool=settings.spool)
        write_batch(batch, settings.spool)  # the rest: pages are spooled in parts as they come
        merge(times, batch.host_times)
    return len(urls), times


@task(name="read-sitemaps", retries=1, retry_condition_fn=retry_transient)
def read_sitemaps(
    request: BackfillRequest, run_id: str, settings: Settings
) -> tuple[dict[date, list[SitemapURL]], dict[str, int], HostTimes]:
    """The request's sitemaps read once for the whole range: URLs by day (the days' tasks
    fetch them), counts, and request times per host. Unreadable sitemaps are spooled as
    rejects."""
    from tasks import sitemapscan
    from tasks.fetch import run_async

    days = request.days()
    times: HostTimes = {}
    found = run_async(
        sitemapscan.scan(
            settings,
            days[0],
            days[-1],
            run_id,
            sitemaps=request.sitemaps,
            domains=request.domains,
            timings=times,
        )
    )
    if found.rejects:
        write_batch(Batch(run_id, rejects=found.rejects), settings.spool)
    counts = {
        "sitemaps": len(found.roots),
        "unreadable": len(found.rejects),
        "in_range": found.urls,
    }
    return found.by_day, counts, times


@task(
    name="sitemaps-day",
    task_run_name="sitemaps-{day}",
    retries=1,
    retry_condition_fn=retry_transient,
)
def sitemaps_day(
    day: date, entries: list[SitemapURL], run_id: str, settings: Settings
) -> tuple[dict[str, int], HostTimes]:
    """One day's sitemap URLs: those the warehouse has not seen, fetched and spooled."""
    from datetime import UTC, datetime

    from tasks import sitemapscan
    from tasks.fetch import fetch_and_process
    from warehouse.db import connect_reader

    times: HostTimes = {}
    todo = sitemapscan.Unseen(list(entries), 0, 0)
    if Path(settings.db).exists():
        con = connect_reader(Path(settings.db), wait=settings.lock_wait)
        try:
            todo = sitemapscan.unseen(con, entries)
        finally:
            con.close()
    size = settings.batch_size
    for i in range(0, len(todo.fresh), size):
        now = datetime.now(UTC)
        items = [sitemapscan.candidate(e, now) for e in todo.fresh[i : i + size]]
        batch = fetch_and_process(items, settings, run_id, now=now, spool=settings.spool)
        write_batch(batch, settings.spool)  # the rest: pages are spooled in parts as they come
        merge(times, batch.host_times)
    counts = {"already_loaded": todo.loaded, "already_failed": todo.failed}
    return {**counts, "fetched": len(todo.fresh)}, times


def _sitemaps_mode(
    request: BackfillRequest, summary: RunSummary, settings: Settings
) -> dict[str, int]:
    """Read the sitemaps once, then fetch day by day (each day's URLs checked against the
    warehouse first, so a second run fetches nothing)."""
    by_day, counts, times = read_sitemaps(request, summary.run_id, settings)
    summary.add_hosts(times)
    summary.items = counts["in_range"]
    totals = {**counts, "already_loaded": 0, "already_failed": 0, "fetched": 0}
    for day in request.days():
        if by_day.get(day):
            done, times = sitemaps_day(day, by_day[day], summary.run_id, settings)
            summary.add_hosts(times)
            for key, value in done.items():
                totals[key] += value
        progress.advance("days", 1)
    return totals


@task(name="reextract-day", task_run_name="reextract-{day}")
def reextract_day(
    day: date, domains: list[str], feeds: list[str], run_id: str, settings: Settings
) -> int:
    """One day's articles extracted again from their stored HTML; returns how many.

    The article keeps its identity (its stored canonical URL) and gains no sighting; the
    loader keeps an article whose text comes out the same as it is, and versions one whose
    text changed. Extraction runs here, in the flow's own thread (lxml wants no threads).
    """
    import dataclasses
    from datetime import UTC, datetime

    from tasks.process import process_candidates
    from tasks.rawpages import page_html
    from tasks.records import Candidate
    from warehouse.db import connect_reader

    db = Path(settings.db)
    if not db.exists():
        return 0
    con = connect_reader(db, wait=settings.lock_wait)
    try:
        pages = rededup.select_day_pages(con, day, domains, feeds)
    finally:
        con.close()
    size = settings.batch_size
    for i in range(0, len(pages), size):
        now = datetime.now(UTC)
        candidates = [
            Candidate(
                origin=p.origin,  # type: ignore[arg-type]
                source=p.url,
                url=p.url,
                html=page_html(p.html_zstd),
                canonical=p.canonical_url,
                fetched_at=p.fetched_at,
                seen_at=now,
            )
            for p in pages[i : i + size]
        ]
        batch = process_candidates(candidates, run_id, now=now)
        # Same page, same article: no new sighting, and the HTML is stored already.
        batch = dataclasses.replace(batch, sightings=[], raw_pages=[])
        write_batch(batch, settings.spool)
    return len(pages)


@flow(name="backfill", log_prints=True)
def backfill(request: BackfillRequest, settings: Settings | None = None) -> dict:
    """Redo a stage for the articles published in a range of days (see the form's fields)."""
    settings = settings or Settings()
    check_mode(request.mode)
    logger = get_run_logger()
    days = request.days()
    logger.info(
        "backfill %s: %s to %s (%d days), domains=%s feeds=%s",
        request.mode.value,
        days[0],
        days[-1],
        len(days),
        request.domains or "all",
        request.feeds or "all",
    )
    summary = RunSummary(run_id=current_run_id(), flow="backfill")
    progress.advance("days", 0, len(days))
    if request.mode is BackfillMode.reextract:
        for day in days:
            summary.items += reextract_day(
                day, request.domains, request.feeds, summary.run_id, settings
            )
            progress.advance("days", 1)
        return finish(summary, settings).as_dict()
    if request.mode is BackfillMode.refetch:
        # Fetching is network-bound and already concurrent and polite per host inside a day;
        # the days run one after another. The loader merges fetched pages as they are spooled.
        loader = BackgroundLoader(summary, settings)
        loader.follow()
        for day in days:
            tried, times = refetch_day(day, request.domains, summary.run_id, settings)
            summary.items += tried
            summary.add_hosts(times)
            progress.advance("days", 1)
        return finish(summary, settings, loader=loader).as_dict()
    if request.mode is BackfillMode.sitemaps:
        loader = BackgroundLoader(summary, settings)
        loader.follow()
        totals = _sitemaps_mode(request, summary, settings)
        logger.info("sitemaps: %s", totals)
        result: dict[str, Any] = finish(summary, settings, loader=loader).as_dict()
        result["sitemaps"] = totals
        return result
    # Days run as concurrent tasks, a bounded window at once (threads: a day's work is small
    # and a process pool's start would cost more than it saves for most ranges).
    for _day, considered in bounded_map(
        rededup_day,
        days,
        settings.parallelism,
        domains=request.domains,
        feeds=request.feeds,
        run_id=summary.run_id,
        settings=settings,
    ):
        summary.items += considered
        progress.advance("days", 1)
    request_relink(summary.run_id, settings)
    return finish(summary, settings).as_dict()

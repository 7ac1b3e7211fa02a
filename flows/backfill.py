"""Flow ``backfill``: redo a stage for a range of publication days.

Launched from the Prefect UI (deployment ``backfill``: a flat form built from the flow's
signature and docstring, engine settings taken from the environment) or locally with
``newsflow backfill``. A request that cannot run (a reversed or too long range, an unknown
site) ends the run at once as Failed, its message one sentence. The range fans out into one
task per day; each day's work is idempotent (it recomputes from what is stored and the loader
applies only differences), so running the same backfill twice changes nothing the second time.
The run's artifact says the mode, the days, the sites, the sitemaps read and each day's counts.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, TypeVar

from prefect import flow, task
from prefect.client.schemas.objects import State
from prefect.exceptions import FailedRun
from prefect.logging import get_run_logger
from prefect.states import Failed
from prefect.utilities.callables import ParameterSchema
from pydantic import Field, WithJsonSchema

from newsflow import progress
from newsflow.flows.backfill_form import (
    BackfillMode,
    BackfillRejected,
    BackfillRequest,
    DayReport,
    Mode,
    check_mode,
    check_sites,
)
from newsflow.flows.fanout import bounded_map, chunked
from newsflow.flows.lifecycle import current_run_id, finish
from newsflow.flows.loading import BackgroundLoader
from newsflow.flows.summary import RunSummary, SitemapTally
from newsflow.settings import Settings
from newsflow.tasks import revisions, sitemap_backfill
from newsflow.tasks.async_bridge import run_async
from newsflow.tasks.contract import Table, to_arrow
from newsflow.tasks.errors import retry_transient
from newsflow.tasks.extraction_pool import ExtractionPool
from newsflow.tasks.fetch import fetch_and_process
from newsflow.tasks.hosttimes import HostTimes, merge
from newsflow.tasks.process import process_candidates
from newsflow.tasks.raw_pages import page_html
from newsflow.tasks.records import Batch, Candidate, RelinkRow
from newsflow.tasks.sitemaps import SitemapURL
from newsflow.tasks.spool import write_batch
from newsflow.warehouse import queries

_E = TypeVar("_E")


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
    stored = queries.day_articles(settings.db, settings.lock_wait, day, domains, feeds)
    for chunk in chunked(stored, settings.batch_size):
        table = revisions.revise(chunk)
        write_batch(Batch(run_id=run_id), settings.spool, extra={Table.REVISIONS: table})
    return len(stored)


@task(name="request-relink")
def request_relink(run_id: str, settings: Settings) -> None:
    """Spool the request to recompute every duplicate link (after the days' revisions): a
    link depends on every earlier article, so the loader redoes them all, in ingest order
    (warehouse/stories.py ``relink``)."""
    table = to_arrow(Table.RELINK, [RelinkRow(run_id, datetime.now(UTC))])
    write_batch(Batch(run_id=run_id), settings.spool, extra={Table.RELINK: table})


def _fetch_spooled(
    entries: list[_E],
    candidate: Callable[[_E, datetime], Candidate],
    run_id: str,
    settings: Settings,
) -> HostTimes:
    """Fetch, extract and spool ``entries`` a batch at a time, each batch's candidates made
    when it starts; the request times per host."""
    times: HostTimes = {}
    for chunk in chunked(entries, settings.batch_size):
        now = datetime.now(UTC)
        items = [candidate(e, now) for e in chunk]
        batch = fetch_and_process(items, settings, run_id, now=now, spool=settings.spool)
        write_batch(batch, settings.spool)  # the rest: pages are spooled in parts as they come
        merge(times, batch.host_times)
    return times


def _url_candidate(url: str, now: datetime) -> Candidate:
    return Candidate(origin="url", source=url, url=url, seen_at=now)


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
    urls = queries.failed_urls(settings.db, settings.lock_wait, day, domains)
    return len(urls), _fetch_spooled(urls, _url_candidate, run_id, settings)


@task(name="read-sitemaps", retries=1, retry_condition_fn=retry_transient)
def read_sitemaps(
    request: BackfillRequest, run_id: str, settings: Settings
) -> tuple[dict[date, list[SitemapURL]], SitemapTally, HostTimes, list[str]]:
    """The request's sitemaps read once for the whole range: URLs by day (the days' tasks
    fetch them), counts, request times per host, and the sitemaps read first (those given,
    else the sites'). Unreadable sitemaps are spooled as rejects."""
    days = request.days()
    times: HostTimes = {}
    found = run_async(
        sitemap_backfill.scan(
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
    tally = SitemapTally(
        sitemaps=len(found.roots), unreadable=len(found.rejects), in_range=found.urls
    )
    return found.by_day, tally, times, list(found.roots)


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
    todo = queries.unseen_sitemap_urls(settings.db, settings.lock_wait, entries)
    times = _fetch_spooled(todo.fresh, sitemap_backfill.candidate, run_id, settings)
    counts = {"already_loaded": todo.loaded, "already_failed": todo.failed}
    return {**counts, "fetched": len(todo.fresh)}, times


@task(name="reextract-day", task_run_name="reextract-{day}")
def reextract_day(
    day: date, domains: list[str], feeds: list[str], run_id: str, settings: Settings
) -> int:
    """One day's articles extracted again from their stored HTML; returns how many.

    The article keeps its identity (its stored canonical URL) and gains no sighting; the
    loader keeps an article whose text comes out the same as it is, and versions one whose
    text changed. Extraction runs here, in the flow's own thread (lxml wants no threads).
    """
    pages = queries.day_pages(settings.db, settings.lock_wait, day, domains, feeds)
    for chunk in chunked(pages, settings.batch_size):
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
            for p in chunk
        ]
        batch = process_candidates(candidates, run_id, now=now)
        # Same page, same article: no new sighting, and the HTML is stored already.
        batch = dataclasses.replace(batch, sightings=[], raw_pages=[])
        write_batch(batch, settings.spool)
    return len(pages)


# The command line and tests run the flow with their own settings; a deployment's runs build
# them from the environment.
_SETTINGS: ContextVar[Settings | None] = ContextVar("backfill_settings", default=None)
_DAY_SCHEMA = WithJsonSchema({"type": "string", "format": "date"})


def _title(text: str) -> Any:
    return Field(json_schema_extra={"title": text})


class _PlainRejection(logging.Filter):
    """A backfill that cannot run ends Failed with its reason as the state message, logged
    once as one line. Prefect's engine then raises ``FailedRun`` for the failed state and logs
    it with a traceback ("Engine execution exited with unexpected exception"): that record is
    dropped for the reasons this process gave, and every other one kept."""

    reasons: ClassVar[set[str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, FailedRun) and str(error) in self.reasons)


logging.getLogger("prefect.flow_runs").addFilter(_PlainRejection())


# The form is this signature and docstring (Prefect reads the Args): titles from the
# annotations, help from the docstring; blank lines between the modes make the UI's markdown
# show each on a line of its own.
@flow(name="backfill", log_prints=True)
def backfill(
    mode: Annotated[Mode, _title("Mode")] = "rededup",
    *,
    first_day: Annotated[date, _title("First day")],
    last_day: Annotated[date | None, _DAY_SCHEMA, _title("Last day")] = None,
    sites: Annotated[tuple[str, ...], _title("Sites")] = (),
    feeds: Annotated[tuple[str, ...], _title("Feeds")] = (),
    sitemaps: Annotated[tuple[str, ...], _title("Sitemaps")] = (),
) -> RunSummary | State:
    """Redo one stage for the articles of a range of days. Running it twice changes nothing.

    Args:
        mode: What to redo for the articles of each day:

            - rededup: recompute duplicates, language and word counts from the stored text

            - reextract: extract the text again from each article's stored page

            - refetch: fetch again the pages that failed on those days, if still missing

            - sitemaps: fetch the articles that the sites' sitemaps date in those days
        first_day: First day (UTC), included: the day the articles were published (for
            refetch, the day the pages failed).
        last_day: Last day (UTC), included; at most 366 days after the first. Leave it
            empty for the first day only.
        sites: Only the articles of these sites, written as domains, e.g. bbc.co.uk (www.
            and paths are ignored). Empty: every site.
        feeds: Only the articles seen in these feeds (feed URLs); not for refetch or
            sitemaps. Empty: from any source.
        sitemaps: For sitemaps only: sitemap or sitemap index URLs to read, e.g.
            https://example.com/news-sitemap.xml. Empty: each site's own sitemaps (the
            Sitemap lines of its robots.txt, else the sitemap.xml at its root).
    """
    settings = _SETTINGS.get() or Settings()
    try:
        request = BackfillRequest.checked(
            since=first_day,
            until=last_day,
            domains=list(sites),
            feeds=list(feeds),
            sitemaps=list(sitemaps),
            mode=mode,
        )
        check_mode(request.mode)
        check_sites(request, settings)
    except BackfillRejected as rejected:
        get_run_logger().error("backfill not started: %s", rejected)
        _PlainRejection.reasons.add(str(rejected))
        return Failed(message=str(rejected))
    # The days' fetches share one extraction pool (started only if one needs it).
    with ExtractionPool(settings) as pool, pool.shared():
        return _run(request, settings)


def deployment_schema(schema: ParameterSchema) -> ParameterSchema:
    """The form as deployments store it. The last day's ``null`` default is dropped: the UI
    then shows an empty date picker, and Prefect's server accepts the field left empty or
    null (it allows null only for an optional field without a default)."""
    fixed = schema.model_copy(deep=True)
    fixed.properties["last_day"].pop("default", None)
    return fixed


def run_backfill(request: BackfillRequest, settings: Settings) -> RunSummary:
    """The backfill flow over ``request`` with ``settings`` instead of the environment's
    (the command line, tests). Raises ``BackfillRejected`` for a request that cannot run."""
    check_mode(request.mode)
    check_sites(request, settings)
    token = _SETTINGS.set(settings)
    try:
        result: RunSummary = backfill(**request.form())
    finally:
        _SETTINGS.reset(token)
    return result


def _run(request: BackfillRequest, settings: Settings) -> RunSummary:
    days = request.days()
    get_run_logger().info(
        "backfill %s: %s to %s (%d days), domains=%s feeds=%s",
        request.mode.value,
        days[0],
        days[-1],
        len(days),
        request.domains or "all",
        request.feeds or "all",
    )
    summary = RunSummary(run_id=current_run_id(), flow="backfill")
    report = DayReport(request)
    progress.advance("days", 0, len(days))
    loader: BackgroundLoader | None = None
    if request.mode is BackfillMode.reextract:
        _reextract(request, summary, settings, report)
    elif request.mode is BackfillMode.refetch:
        # The loader merges fetched pages as they are spooled.
        loader = BackgroundLoader(summary, settings)
        loader.follow()
        _refetch(request, summary, settings, report)
    elif request.mode is BackfillMode.sitemaps:
        loader = BackgroundLoader(summary, settings)
        loader.follow()
        _sitemaps(request, summary, settings, report)
    else:
        _rededup(request, summary, settings, report)
    summary.sections = report.markdown()
    return finish(summary, settings, loader=loader)


def _reextract(
    request: BackfillRequest, summary: RunSummary, settings: Settings, report: DayReport
) -> None:
    for day in request.days():
        done = reextract_day(day, request.domains, request.feeds, summary.run_id, settings)
        summary.items += done
        report.add(day, {"articles re-extracted": done})
        progress.advance("days", 1)


def _refetch(
    request: BackfillRequest, summary: RunSummary, settings: Settings, report: DayReport
) -> None:
    """Fetching is network-bound and already concurrent and polite per host inside a day;
    the days run one after another."""
    for day in request.days():
        tried, times = refetch_day(day, request.domains, summary.run_id, settings)
        summary.items += tried
        summary.add_hosts(times)
        report.add(day, {"failed URLs fetched again": tried})
        progress.advance("days", 1)


def _sitemaps(
    request: BackfillRequest, summary: RunSummary, settings: Settings, report: DayReport
) -> None:
    """Read the sitemaps once, then fetch day by day (each day's URLs checked against the
    warehouse first, so a second run fetches nothing)."""
    by_day, tally, times, roots = read_sitemaps(request, summary.run_id, settings)
    report.sitemaps = roots
    summary.add_hosts(times)
    summary.items = tally.in_range
    for day in request.days():
        done = {"already_loaded": 0, "already_failed": 0, "fetched": 0}
        if by_day.get(day):
            done, times = sitemaps_day(day, by_day[day], summary.run_id, settings)
            summary.add_hosts(times)
            tally.already_loaded += done["already_loaded"]
            tally.already_failed += done["already_failed"]
            tally.fetched += done["fetched"]
        report.add(day, {"URLs in the sitemaps": len(by_day.get(day, [])), **done})
        progress.advance("days", 1)
    summary.sitemaps = tally
    get_run_logger().info("sitemaps: %s", dataclasses.asdict(tally))


def _rededup(
    request: BackfillRequest, summary: RunSummary, settings: Settings, report: DayReport
) -> None:
    """Days run as concurrent tasks, a bounded window at once (threads: a day's work is
    small and a process pool's start would cost more than it saves for most ranges); then
    every duplicate link is recomputed."""
    for day, considered in bounded_map(
        rededup_day,
        request.days(),
        settings.parallelism,
        domains=request.domains,
        feeds=request.feeds,
        run_id=summary.run_id,
        settings=settings,
    ):
        summary.items += considered
        report.add(day, {"articles recomputed": considered})
        progress.advance("days", 1)
    request_relink(summary.run_id, settings)

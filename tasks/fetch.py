"""Fetching batches of article pages: each page fetched (``tasks.fetcher``), extracted in the
extraction pool (``tasks.extraction_pool``) and assembled (``tasks.page_assembly``).

A batch of candidates (URLs with whatever the intake knew: feed title, GUID, dates) becomes
candidates with the page's decoded, capped HTML and extracted text, or rejects with stable
reasons (``http_404``, ``timeout``, ``not_html``, ``too_large``, ``blocked_private``,
``robots``, ``redirect_loop``, ...). At most ``NEWSFLOW_FETCH_CONCURRENCY`` pages are being
fetched or held for extraction at once, which bounds memory; per-host limits come from the
politeness gate. ``fetch_and_process`` has the workers process each page too (rows,
compressed raw page), as pages arrive: only the in-batch dedup is left for after the last
page.

The extraction pool is the caller's (``pool=``), else the one its owner shares with this
context (``ExtractionPool.shared``), else one made for the call and closed at its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from newsflow import cancel, progress
from newsflow.settings import Settings
from newsflow.tasks.async_bridge import run_async
from newsflow.tasks.decoding import decode_html
from newsflow.tasks.errors import item_error
from newsflow.tasks.extraction_pool import ExtractionPool, Failed, extract_job, shared_pool
from newsflow.tasks.fetcher import Fetcher, Ticket
from newsflow.tasks.hosttimes import HostTimes
from newsflow.tasks.normalize import canonical_url
from newsflow.tasks.page_assembly import assemble, page_job
from newsflow.tasks.part_spooler import PartSpooler
from newsflow.tasks.records import Batch, Candidate, RejectRow, SightingRow

# Up to this many pages in one fetch are extracted in this process instead: starting the
# pool's workers (a fresh interpreter each, importing trafilatura and loading the language
# model: 2-3 s on a loaded 2-core machine) costs more than a few pages' extraction (tens of
# milliseconds each).
INLINE_PAGES = 8

PageHandler = Callable[[Candidate, str, str], Awaitable[None]]


async def _stop_fetching(fetching: set[asyncio.Task[Any]]) -> None:
    """When the run is asked to stop, drop the requests in flight; pages being extracted
    finish and are kept."""
    while not cancel.requested():
        await asyncio.sleep(0.2)
    for task in list(fetching):
        task.cancel()


async def _fetch_each(
    items: list[Candidate],
    settings: Settings,
    run_id: str,
    now: datetime,
    handle: PageHandler,
    timings: HostTimes | None = None,
) -> list[RejectRow]:
    """Fetch every item's page and hand it, decoded, to ``handle(item, final_url, html)``
    (which raises ``NewsflowError`` to reject the item at the extract stage). Returns the
    rejects."""
    rejects: list[RejectRow] = []
    # Places for pages being fetched or held, decoded, for extraction: bounds both requests
    # in flight and memory. A place is taken only once a page's host has a free slot, so
    # pages queued behind one busy host never hold places another host could use.
    places = asyncio.Semaphore(settings.fetch_concurrency)

    fetching: set[asyncio.Task[Any]] = set()

    async def one(fetcher: Fetcher, item: Candidate) -> None:
        if cancel.requested():  # the run is stopping: no new fetch (a later run gets it)
            return
        stage = "fetch"
        ticket = Ticket(places)
        current = asyncio.current_task()
        try:
            if current is not None:
                fetching.add(current)
            try:
                resp = await fetcher.page(item.url, ticket)
            except asyncio.CancelledError:
                if cancel.requested():  # dropped by ``_stop_fetching``: not fetched
                    return
                raise
            finally:
                if current is not None:
                    fetching.discard(current)
            html = decode_html(resp.body, resp.content_type, item.url)
            resp.body = b""
            stage = "extract"
            await handle(item, resp.final_url, html)
        except Exception as exc:  # one page's problem, whatever it is, is only that page's
            error = item_error(exc, item.url)
            rejects.append(RejectRow(item.url, stage, error.reason, error.detail, run_id, now))
        finally:
            ticket.release()
            progress.advance("pages", 1)

    async with Fetcher(settings, timings=timings) as fetcher:
        watcher = asyncio.create_task(_stop_fetching(fetching))
        try:
            await asyncio.gather(*(one(fetcher, item) for item in items))
        finally:
            watcher.cancel()
    return rejects


@contextlib.contextmanager
def _pool_for(settings: Settings, pool: ExtractionPool | None) -> Iterator[ExtractionPool]:
    """``pool``, else the one shared with this context, else one of the call's own,
    closed when the call ends."""
    pool = pool or shared_pool()
    if pool is not None:
        yield pool
        return
    with ExtractionPool(settings) as own:
        yield own


async def fetch_pages(
    items: list[Candidate],
    settings: Settings,
    run_id: str,
    *,
    now: datetime | None = None,
    timings: HostTimes | None = None,
    pool: ExtractionPool | None = None,
) -> tuple[list[Candidate], list[RejectRow]]:
    """Fetch and extract every item's page: candidates with text (and their HTML), or
    rejects. Request times per host are added to ``timings`` when given."""
    now = now or datetime.now(UTC)
    pages: list[Candidate] = []
    inline = len(items) <= INLINE_PAGES

    with _pool_for(settings, pool) as workers:

        async def handle(item: Candidate, final_url: str, html: str) -> None:
            found = await workers.run(extract_job, html, final_url, inline=inline)
            candidate = assemble(item, final_url, html, found, datetime.now(UTC))
            if isinstance(candidate, Failed):
                raise candidate.error(item.url)
            pages.append(candidate)

        rejects = await _fetch_each(items, settings, run_id, now, handle, timings)
    return pages, rejects


async def fetch_batch(
    items: list[Candidate],
    settings: Settings,
    run_id: str,
    *,
    now: datetime | None = None,
    timings: HostTimes | None = None,
    spool: str | None = None,
    pool: ExtractionPool | None = None,
) -> tuple[Batch, dict[str, str]]:
    """Fetch, extract and process every item's page: one deduplicated batch (rows, raw
    pages, rejects) and the article id of each fetched page by item URL. Extraction and
    processing both run in the worker processes, page by page, as pages arrive.

    With ``spool``, every ``SPOOL_EVERY`` processed pages are written there as a batch of
    their own as soon as they are ready, and only the rest (and every reject) is returned."""
    now = now or datetime.now(UTC)
    spooler = PartSpooler(run_id, spool)
    ids: dict[str, str] = {}
    inline = len(items) <= INLINE_PAGES

    with _pool_for(settings, pool) as workers:

        async def handle(item: Candidate, final_url: str, html: str) -> None:
            job = functools.partial(page_job, item, datetime.now(UTC), run_id, now)
            processed = await workers.run(job, html, final_url, inline=inline)
            if isinstance(processed, Failed):
                raise processed.error(item.url)
            aid = processed.raw_pages[0].article_id if processed.raw_pages else None
            if aid is not None:  # every processed page has its raw page, under its id
                ids[item.url] = aid
            await spooler.add(processed)

        rejects = await _fetch_each(items, settings, run_id, now, handle, timings)
    spooler.batch.rejects.extend(rejects)
    return spooler.rest(), ids


def fetch_and_process(
    items: list[Candidate],
    settings: Settings,
    run_id: str,
    *,
    known: dict[str, str] | None = None,
    now: datetime | None = None,
    spool: str | None = None,
    pool: ExtractionPool | None = None,
) -> Batch:
    """Items to fetch -> one processed batch. Items whose canonical URL repeats are fetched
    once and each gets its sighting; ``known`` (canonical URL -> article_id) are not fetched
    again, only sighted. With ``spool``, processed pages are spooled in parts as they are
    ready (``fetch_batch``) and the batch returned holds the rest: spool it too. ``pool``:
    the extraction pool to use, else one of the call's own."""
    now = now or datetime.now(UTC)
    known = known or {}
    groups: dict[str, list[Candidate]] = {}
    for item in items:
        groups.setdefault(canonical_url(item.url), []).append(item)
    sightings: list[SightingRow] = []
    to_fetch: list[Candidate] = []
    for key, group in groups.items():
        if key in known:
            sightings += [_sighting(known[key], c, now) for c in group]
        else:
            to_fetch.append(group[0])
    progress.advance("pages", len(items) - len(to_fetch))
    timings: HostTimes = {}
    batch, ids = run_async(
        fetch_batch(to_fetch, settings, run_id, now=now, timings=timings, spool=spool, pool=pool)
    )
    batch.host_times = timings
    refused = {r.source: r for r in batch.rejects}
    for key, group in groups.items():
        if key in known or len(group) < 2:
            continue
        first = group[0]
        if first.url in refused:
            r = refused[first.url]
            batch.rejects += [dataclasses.replace(r, source=c.url) for c in group[1:]]
        elif first.url in ids:
            aid = ids[first.url]
            sightings += [_sighting(aid, c, now) for c in group[1:]]
    batch.sightings.extend(sightings)
    return batch


def _sighting(aid: str, item: Candidate, now: datetime) -> SightingRow:
    return SightingRow(aid, item.origin, item.feed_url, item.guid, item.url, item.seen_at or now)

"""Fetching batches of article pages and feeds: async I/O, extraction in worker processes.

A batch of candidates (URLs with whatever the intake knew: feed title, GUID, dates) becomes
candidates with the page's decoded, capped HTML and extracted text, or rejects with stable
reasons (``http_404``, ``timeout``, ``not_html``, ``too_large``, ``blocked_private``,
``robots``, ``redirect_loop``, ...). At most ``NEWSFLOW_FETCH_CONCURRENCY`` pages are being
fetched or held for extraction at once, which bounds memory; per-host limits come from the
politeness gate. Extraction runs in a process pool (spawned, never threads: lxml
under trafilatura is not safe from two threads). ``fetch_and_process`` has the workers
process each page too (rows, compressed raw page), as pages arrive: only the in-batch dedup
is left for after the last page.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import functools
import multiprocessing
import multiprocessing.util
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from newsflow import cancel, progress
from newsflow.settings import Settings
from tasks.articles import merge_page, wall_candidate
from tasks.dedupe import dedupe_batch
from tasks.enrich import registered_domain
from tasks.errors import BadInput, NewsflowError, item_error
from tasks.feeds import FeedState, ParsedFeed, classify_failure, parse_feed
from tasks.hosttimes import HostTimes, timed
from tasks.http import Response, fetch_retrying, make_client
from tasks.normalize import canonical_url, is_http_url
from tasks.pages import check_html, decode_html
from tasks.politeness import HostGate
from tasks.process import process_candidates
from tasks.records import Batch, Candidate, RejectRow, SightingRow
from tasks.robots import RobotsCache
from tasks.sitemaps import SitemapURL, in_range, parse_sitemap
from tasks.spool import write_batch

T = TypeVar("T")
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
# Pages per part a fetch spools as soon as they are processed (``fetch_batch(spool=...)``):
# the loader merges a part while the next ones are fetched, so a run's rows arrive as it
# goes and a crash loses at most the parts not yet written. Each part is a load with its
# fixed costs: on 300 loopback pages (CPU-bound on 2 cores) parts of 100 or 250 gave no
# faster end-to-end run than one batch (bench_end_to_end), so parts are not small.
SPOOL_EVERY = 250
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


class Ticket:
    """One place among the pages being fetched or held for extraction."""

    def __init__(self, places: asyncio.Semaphore) -> None:
        self._places = places
        self._held = False

    async def take(self) -> None:
        if not self._held:
            await self._places.acquire()
            self._held = True

    def release(self) -> None:
        if self._held:
            self._places.release()
            self._held = False


class Fetcher:
    """One client, politeness gate and robots cache for the fetches of one task."""

    def __init__(
        self,
        settings: Settings,
        *,
        respect_robots: bool | None = None,
        timings: HostTimes | None = None,
    ) -> None:
        self.settings = settings
        self.respect_robots = settings.respect_robots if respect_robots is None else respect_robots
        self.client = make_client(settings)
        self.gate = HostGate(settings)
        self.robots = RobotsCache(self.client, settings, self.gate)
        # every hop's time on the network, per host (the run summary's slowest hosts)
        self.timings: HostTimes = {} if timings is None else timings

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    @asynccontextmanager
    async def _page_hop(self, url: str, ticket: Ticket | None) -> AsyncIterator[None]:
        # robots first and outside the host slot: its own fetch needs a slot of that host
        if self.respect_robots:
            await self.robots.check(url)  # robots, or robots_unavailable (RFC 9309)
        async with self.gate.slot(url):
            if ticket is not None:
                await ticket.take()  # only once the host is ours: no host idles meanwhile
            with timed(self.timings, url):
                yield

    @asynccontextmanager
    async def _feed_hop(self, url: str) -> AsyncIterator[None]:
        async with self.gate.slot(url):
            with timed(self.timings, url):
                yield

    async def page(self, url: str, ticket: Ticket | None = None) -> Response:
        """An article page (robots, politeness, retries); ``not_html`` if it is not HTML.

        ``ticket`` is taken when the first request may go and kept by the caller (it bounds
        requests in flight plus pages held in memory)."""
        resp = await fetch_retrying(
            self.client,
            url,
            self.settings,
            headers={"Accept": PAGE_ACCEPT},
            guard=lambda hop: self._page_hop(hop, ticket),
            on_retry_after=self.gate.defer,
        )
        check_html(resp.content_type, resp.body, url)
        return resp

    async def resource(self, url: str) -> Response:
        """Any other crawled resource (a sitemap): robots, politeness, retries."""
        return await fetch_retrying(
            self.client,
            url,
            self.settings,
            guard=lambda hop: self._page_hop(hop, None),
            on_retry_after=self.gate.defer,
        )

    async def feed(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> Response:
        """A feed the user subscribed to (conditional GET; robots does not apply)."""
        headers = {"Accept": FEED_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return await fetch_retrying(
            self.client,
            url,
            self.settings,
            headers=headers,
            guard=self._feed_hop,
            on_retry_after=self.gate.defer,
        )


# --- extraction in worker processes ---------------------------------------------------

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _extraction_pool(settings: Settings) -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            workers = settings.workers or os.cpu_count() or 1
            _pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
            )
        return _pool


def start_pool(settings: Settings) -> None:
    """Start the extraction workers now, without waiting for them: their start-up (seconds)
    then overlaps whatever the process does before its first page (importing Prefect,
    starting a flow run). A pool spawns a worker per job while none is idle."""
    pool = _extraction_pool(settings)
    with cancel.blocked():  # the workers boot with Ctrl-C held back (``cancel.in_worker``)
        for _ in range(settings.parallelism):
            pool.submit(int)


def _lower_priority() -> None:
    """Extraction is throughput work: let the I/O loop that keeps requests going run first."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(5)


def _start_worker() -> None:
    """Pool initializer: lower priority, and pay once, when the pool starts, the set-up the
    first pages would otherwise pay in the middle of a run (imports, justext's stop lists
    for every language, ~0.9 s; the language model; the public-suffix list). Ctrl-C is the
    parent's to handle, and the worker ends with its parent (``newsflow.cancel``)."""
    cancel.in_worker(stoppable=False)
    _lower_priority()
    try:
        from trafilatura.external import jt_stoplist_init

        from tasks.enrich import _extractor, _lang_model

        jt_stoplist_init()
        _lang_model()
        _extractor()
    except Exception:  # only a head start: the first page loads whatever failed here
        return


def _reset_pool(broken: ProcessPoolExecutor | None = None, *, kill: bool = False) -> None:
    """Drop the pool (only if it is still ``broken``, when given): a fresh one is made on
    next use. ``kill`` ends its workers at once (one of them hangs)."""
    global _pool
    with _pool_lock:
        pool = _pool
        if pool is None or (broken is not None and pool is not broken):
            return
        _pool = None
    if kill:
        for process in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def _close_pool() -> None:
    """End the workers when this process ends. In a multiprocessing child (a Prefect
    process-pool task worker) interpreter ``atexit`` never runs and the child first joins
    its own children, so this also runs as a multiprocessing finalizer, before that join."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is None:
        return
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()


atexit.register(_close_pool)
multiprocessing.util.Finalize(None, _close_pool, exitpriority=100)

EXTRACT_TIMEOUT = 60.0  # seconds one page may take in extraction before its worker is ended
# Up to this many pages in one fetch are extracted in this process instead: starting the
# pool's workers (a fresh interpreter each, importing trafilatura and loading the language
# model: 2-3 s on a loaded 2-core machine) costs more than a few pages' extraction (tens of
# milliseconds each). One thread at a time: lxml under trafilatura is not thread-safe.
INLINE_PAGES = 8
_inline_lock = threading.Lock()


def _inline(job: Any, html: str, url: str) -> tuple[str, Any]:
    with _inline_lock:
        result: tuple[str, Any] = job(html, url)
        return result


def _extract_job(html: str, url: str) -> tuple[str, Any]:
    """Runs in a worker: ("ok", Extracted) or ("error", (reason, detail)); errors are
    returned, not raised, so their reason survives pickling."""
    from tasks.extract import extract

    try:
        return "ok", extract(html, url)
    except NewsflowError as error:
        return "error", (error.reason, error.detail)
    except Exception as exc:  # a bug in extraction must not lose the item
        found = item_error(exc, url)
        reason = "extract_error" if found.reason == "process_error" else found.reason
        return "error", (reason, found.detail)


def _page_job(
    item: Candidate, fetched_at: datetime, run_id: str, now: datetime, html: str, url: str
) -> tuple[str, Any]:
    """Runs in a worker: a fetched page -> ("ok", its Batch) with the article's rows, its
    raw page (compressed here, so only compressed HTML travels back) and any reject; or
    ("error", (reason, detail)) if extraction failed. Doing the processing here too keeps
    both cores busy while pages arrive, instead of a serial pass over the batch after."""
    status, value = _extract_job(html, url)
    if status == "ok":
        candidate = _page_candidate(item, url, html, value, fetched_at)
    else:
        walled = wall_candidate(item, value[0])
        if walled is None:
            return status, value
        walled.html, walled.canonical, walled.fetched_at = html, url, fetched_at
        candidate = walled  # a consent/challenge page: the feed summary stays
    try:
        return "ok", process_candidates([candidate], run_id, now=now)
    except Exception as exc:  # a bug in processing must not lose the item
        error = item_error(exc, item.url)
        reject = RejectRow(item.url, "process", error.reason, error.detail, run_id, now)
        return "ok", Batch(run_id=run_id, rejects=[reject])


async def extract_in_worker(
    settings: Settings,
    html: str,
    url: str,
    *,
    job: Any = _extract_job,
    timeout: float | None = None,
    inline: bool = False,
) -> tuple[str, Any]:
    """``job(html, url)`` in the extraction pool. A worker that dies (a segfault in lxml) is
    replaced and the page tried once more; one that hangs is ended (``extract_timeout``).
    ``inline``: small work, run in this process (``INLINE_PAGES``)."""
    if inline:
        return await asyncio.to_thread(_inline, job, html, url)
    loop = asyncio.get_running_loop()
    for attempt in (1, 2):
        pool = _extraction_pool(settings)
        try:
            with cancel.blocked():  # a worker started here boots with Ctrl-C held back
                running = loop.run_in_executor(pool, job, html, url)
            result: tuple[str, Any] = await asyncio.wait_for(running, timeout or EXTRACT_TIMEOUT)
            return result
        except TimeoutError:
            _reset_pool(pool, kill=True)
            return "error", (
                "extract_timeout",
                f"extraction took over {timeout or EXTRACT_TIMEOUT:g}s",
            )
        except BrokenProcessPool:
            _reset_pool(pool)
            if attempt == 2:
                break
    return "error", ("extract_crash", "the extraction worker died twice on this page")


def same_site(a: str, b: str) -> bool:
    return registered_domain(a) == registered_domain(b)


def page_candidate(item: Candidate, resp: Response, html: str, ex: Any) -> Candidate:
    """A fetched page and what extraction found -> the candidate ``build_rows`` takes."""
    return _page_candidate(item, resp.final_url, html, ex, datetime.now(UTC))


def _page_candidate(
    item: Candidate, final_url: str, html: str, ex: Any, fetched_at: datetime
) -> Candidate:
    canonical = final_url
    found = getattr(ex, "canonical_url", None)
    if found and is_http_url(found) and same_site(found, final_url):
        canonical = found
    candidate = dataclasses.replace(
        item, text=ex.text, html=html, canonical=canonical, fetched_at=fetched_at
    )
    return merge_page(candidate, ex)  # the same enrichment as every other path


PageHandler = Callable[[Candidate, str, str], Awaitable[None]]


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
                if cancel.requested():  # dropped by ``stop_fetching``: not fetched
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

    async def stop_fetching() -> None:
        """When the run is asked to stop, drop the requests in flight; pages being
        extracted finish and are kept."""
        while not cancel.requested():
            await asyncio.sleep(0.2)
        for task in list(fetching):
            task.cancel()

    async with Fetcher(settings, timings=timings) as fetcher:
        watcher = asyncio.create_task(stop_fetching())
        try:
            await asyncio.gather(*(one(fetcher, item) for item in items))
        finally:
            watcher.cancel()
    return rejects


def _refused(url: str, value: tuple[str, str]) -> BadInput:
    reason, detail = value
    return BadInput(url, detail, reason=reason)


async def fetch_pages(
    items: list[Candidate],
    settings: Settings,
    run_id: str,
    *,
    now: datetime | None = None,
    timings: HostTimes | None = None,
) -> tuple[list[Candidate], list[RejectRow]]:
    """Fetch and extract every item's page: candidates with text (and their HTML), or
    rejects. Request times per host are added to ``timings`` when given."""
    now = now or datetime.now(UTC)
    pages: list[Candidate] = []

    inline = len(items) <= INLINE_PAGES

    async def handle(item: Candidate, final_url: str, html: str) -> None:
        status, value = await extract_in_worker(settings, html, final_url, inline=inline)
        walled = None if status == "ok" else wall_candidate(item, value[0])
        if status == "ok":
            pages.append(_page_candidate(item, final_url, html, value, datetime.now(UTC)))
        elif walled is not None:  # a consent/challenge page: the feed summary stays
            walled.html, walled.canonical = html, final_url
            pages.append(walled)
        else:
            raise _refused(item.url, value)

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
) -> tuple[Batch, dict[str, str]]:
    """Fetch, extract and process every item's page: one deduplicated batch (rows, raw
    pages, rejects) and the article id of each fetched page by item URL. Extraction and
    processing both run in the worker processes, page by page, as pages arrive.

    With ``spool``, every ``SPOOL_EVERY`` processed pages are written there as a batch of
    their own as soon as they are ready, and only the rest (and every reject) is returned."""
    now = now or datetime.now(UTC)
    batch = Batch(run_id=run_id)
    ids: dict[str, str] = {}

    inline = len(items) <= INLINE_PAGES

    async def handle(item: Candidate, final_url: str, html: str) -> None:
        job = functools.partial(_page_job, item, datetime.now(UTC), run_id, now)
        status, value = await extract_in_worker(settings, html, final_url, job=job, inline=inline)
        if status != "ok":
            raise _refused(item.url, value)
        if value.raw_pages:  # every processed page has its raw page, under its article id
            ids[item.url] = value.raw_pages[0].article_id
        batch.extend(value)
        if spool is not None and len(batch.raw_pages) >= SPOOL_EVERY:
            # in a thread: the event loop keeps fetching while the part is written
            await asyncio.to_thread(write_batch, dedupe_batch(take_rows(batch)), spool)

    batch.rejects.extend(await _fetch_each(items, settings, run_id, now, handle, timings))
    return dedupe_batch(batch), ids


def take_rows(batch: Batch) -> Batch:
    """Move ``batch``'s rows (not its rejects) into a new batch; ``batch`` keeps the rejects."""
    part = Batch(
        batch.run_id,
        articles=batch.articles,
        comments=batch.comments,
        sightings=batch.sightings,
        notes=batch.notes,
        raw_pages=batch.raw_pages,
    )
    batch.articles, batch.comments, batch.sightings = [], [], []
    batch.notes, batch.raw_pages = [], []
    return part


async def _into(box: dict[str, Any], coro: Coroutine[Any, Any, Any]) -> None:
    box["value"] = await coro


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, also when this thread already runs an event loop.

    The result comes back through a box, not as the main task's result: in the main thread
    ``asyncio.run`` checks its SIGINT handler with ``signal.getsignal``, whose failed enum
    lookup formats the handler's repr, hence the main task's and its result's (a whole
    batch: ~1 s for 300 pages with their MinHash signatures)."""
    box: dict[str, Any] = {}
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_into(box, coro))
        result: T = box["value"]
        return result

    def target() -> None:
        try:
            asyncio.run(_into(box, coro))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def fetch_and_process(
    items: list[Candidate],
    settings: Settings,
    run_id: str,
    *,
    known: dict[str, str] | None = None,
    now: datetime | None = None,
    spool: str | None = None,
) -> Batch:
    """Items to fetch -> one processed batch. Items whose canonical URL repeats are fetched
    once and each gets its sighting; ``known`` (canonical URL -> article_id) are not fetched
    again, only sighted. With ``spool``, processed pages are spooled in parts as they are
    ready (``fetch_batch``) and the batch returned holds the rest: spool it too."""
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
        fetch_batch(to_fetch, settings, run_id, now=now, timings=timings, spool=spool)
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


# --- feeds -----------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class FeedPoll:
    state: FeedState
    parsed: ParsedFeed | None = None
    reject: RejectRow | None = None


async def poll_feeds(
    feeds: list[tuple[str, str | None, str | None, str | None]],
    settings: Settings,
    run_id: str,
    *,
    now: datetime | None = None,
    timings: HostTimes | None = None,
) -> list[FeedPoll]:
    """Poll feeds given as (url, name, etag, last_modified): state, entries, or a reject.
    Request times per host are added to ``timings`` when given."""
    now = now or datetime.now(UTC)
    in_flight = asyncio.Semaphore(settings.fetch_concurrency)

    def failed(url: str, name: str | None, polled: datetime, error: NewsflowError) -> FeedPoll:
        state = FeedState(url, polled, classify_failure(error.reason), name=name)
        state.error = f"{error.reason}: {error.detail}"[:500]
        state.status = int(error.reason[5:]) if error.reason[5:].isdigit() else None
        return FeedPoll(
            state, None, RejectRow(url, "feed", error.reason, error.detail, run_id, now)
        )

    async def one(fetcher: Fetcher, url: str, name: str | None, etag: Any, modified: Any) -> Any:
        async with in_flight:
            polled = datetime.now(UTC)
            if cancel.requested():  # stopping: not polled; its validators stay as they were
                return None
            try:
                resp = await fetcher.feed(url, etag, modified)
            except Exception as exc:  # one feed's problem, whatever it is, is only its own
                return failed(url, name, polled, item_error(exc, url))
            finally:
                progress.advance("feeds", 1)
            validators = (resp.headers.get("etag"), resp.headers.get("last-modified"))
            if resp.status == 304:
                return FeedPoll(
                    FeedState(url, polled, "not_modified", name, None, 304, *validators)
                )
            try:
                parsed = await asyncio.to_thread(
                    parse_feed, resp.body, resp.final_url, resp.content_type
                )
            except Exception as exc:  # no validators kept: the next poll reads it again
                poll = failed(url, name, polled, item_error(exc, url))
                poll.state.status = resp.status
                return poll
            state = FeedState(url, polled, "ok", name, parsed.title, resp.status, *validators)
            state.entries = len(parsed.entries)
            state.error = parsed.error
            if not parsed.entries and parsed.error:
                state.outcome = "hard" if parsed.error == "not a feed" else "soft"
                reason = "not_a_feed" if parsed.error == "not a feed" else "parse_error"
                reject = RejectRow(url, "feed", reason, parsed.error, run_id, now)
                return FeedPoll(state, parsed, reject)
            return FeedPoll(state, parsed)

    async with Fetcher(settings, timings=timings) as fetcher:
        polls = await asyncio.gather(*(one(fetcher, *feed) for feed in feeds))
    return [p for p in polls if p is not None]


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

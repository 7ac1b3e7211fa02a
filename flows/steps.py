"""The ingest flows' named steps, without Prefect: what a run does, in order.

Each ingest flow (``flows/urls.py``, ``flows/seeds.py``, ``flows/feeds.py``) is this module's
sequence run with a ``PrefectRunner`` (``flows/tasked.py``: each step a Prefect task, batches
in its task runner, the final load the ``load-spool`` task, the summary an artifact); small
work runs the same sequence with ``InlineRunner``, in the command's process, without
importing Prefect (``flows/inline.py``). Same steps, same spool batches, same loader: the
warehouse rows and rejects are the same whichever runner ran them.
"""

from __future__ import annotations

import contextvars
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from newsflow import cancel, progress
from newsflow.flows.fanout import bounded_map, chunked
from newsflow.flows.lifecycle import close, recorded
from newsflow.flows.loading import LOAD_SPOOL, BackgroundLoader
from newsflow.flows.observe import feed_health_rows
from newsflow.flows.summary import FeedTally, RunSummary
from newsflow.settings import Settings
from newsflow.tasks import seedledger, seeds
from newsflow.tasks.async_bridge import run_async
from newsflow.tasks.contract import Table
from newsflow.tasks.errors import TransientError
from newsflow.tasks.exact_duplicates import dedupe_batch
from newsflow.tasks.extraction_pool import ExtractionPool, shared_pool
from newsflow.tasks.feed_intake import FeedPoll, poll_feeds
from newsflow.tasks.feeds import FeedSpec, entry_candidate, load_feeds_file, select, states_table
from newsflow.tasks.fetch import fetch_and_process
from newsflow.tasks.hosttimes import HostTimes
from newsflow.tasks.normalize import canonical_url, is_http_url
from newsflow.tasks.process import process_candidates
from newsflow.tasks.records import Batch, Candidate, RejectRow
from newsflow.tasks.spool import SpooledBatch, write_batch
from newsflow.warehouse import queries

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
C = TypeVar("C")
DEFAULT_FEEDS_FILE = "seeds/feeds.toml"

# A feed to poll: url, name, and the validators of its last answer (etag, last-modified).
DueFeed = tuple[str, str | None, str | None, str | None]


class Pending(Protocol[T_co]):
    def result(self) -> T_co: ...


class Runner(Protocol):
    """Where a sequence's steps run."""

    def submit(self, step: Callable[..., T], *args: Any) -> Pending[T]:
        """Start ``step(*args)`` (concurrently where the runner can)."""
        ...

    def call(self, step: Callable[..., T], *args: Any) -> T:
        """``step(*args)`` in this process, now."""
        ...

    def map(
        self, step: Callable[..., T], chunks: list[C], window: int, **kwargs: Any
    ) -> Iterator[tuple[C, T]]:
        """``step(chunk, **kwargs)`` for every chunk, at most ``window`` at once, in order."""
        ...

    def finish(
        self, summary: RunSummary, settings: Settings, loader: BackgroundLoader
    ) -> RunSummary:
        """The final load and the run's row (and, in a flow run, its events and artifact)."""
        ...


@dataclass
class Done(Generic[T]):
    value: T

    def result(self) -> T:
        return self.value


class InlineRunner:
    """Every step in this process (``flows/inline.py``); ``seconds``: the time each step took,
    by name (the run's log says it).

    ``workers`` 0 (small work): one step after the other. Else steps run side by side as a
    flow's task runners run them: submitted steps (a run's fetch batches) in threads of this
    process, which share its extraction pool; mapped steps (seed batches) in a pool of
    ``workers`` processes, started when more than one batch comes. ``close`` ends them."""

    def __init__(self, workers: int = 0) -> None:
        self.seconds: dict[str, float] = {}
        self.workers = workers
        self._lock = threading.Lock()
        self._threads: ThreadPoolExecutor | None = None

    def _count(self, step: Callable[..., Any], seconds: float) -> None:
        name = step_name(step)
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def _timed(self, step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return _attempts(step, *args, **kwargs)
        finally:
            self._count(step, time.perf_counter() - started)

    def submit(self, step: Callable[..., T], *args: Any) -> Pending[T]:
        if not self.workers:
            return Done(self._timed(step, *args))
        if self._threads is None:
            self._threads = ThreadPoolExecutor(thread_name_prefix="step")
        # the thread sees this context: the run's shared extraction pool
        return self._threads.submit(contextvars.copy_context().run, self._timed, step, *args)

    def call(self, step: Callable[..., T], *args: Any) -> T:
        return self._timed(step, *args)

    def map(
        self, step: Callable[..., T], chunks: list[C], window: int, **kwargs: Any
    ) -> Iterator[tuple[C, T]]:
        if self.workers and len(chunks) > 1:
            yield from self._map_in_processes(step, chunks, window, **kwargs)
            return
        for chunk in chunks:
            if cancel.requested():
                break
            yield chunk, self._timed(step, chunk, **kwargs)

    def _map_in_processes(
        self, step: Callable[..., T], chunks: list[C], window: int, **kwargs: Any
    ) -> Iterator[tuple[C, T]]:
        """``fanout.bounded_map`` over a process pool: at most ``window`` batches in flight,
        results in order, none submitted once the run is asked to stop."""
        pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        try:
            submit = _Submit(pool, step)
            for chunk, (value, seconds) in bounded_map(submit, chunks, window, **kwargs):
                self._count(step, seconds)
                yield chunk, value
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def finish(
        self, summary: RunSummary, settings: Settings, loader: BackgroundLoader
    ) -> RunSummary:
        return self._timed(close, summary, settings, loader=loader)

    def close(self) -> None:
        """End the threads (their steps are done: the run waited for every result)."""
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)
            self._threads = None


class _Submit:
    """A process pool seen as a task by ``bounded_map``: ``submit`` runs ``step`` in a worker,
    whose future gives ``(result, seconds)``."""

    def __init__(self, pool: ProcessPoolExecutor, step: Callable[..., Any]) -> None:
        self._pool, self._step = pool, step

    def submit(self, chunk: Any, **kwargs: Any) -> Future[tuple[Any, float]]:
        return self._pool.submit(_timed_in_worker, self._step, chunk, kwargs)


def _timed_in_worker(step: Callable[..., T], chunk: Any, kwargs: dict[str, Any]) -> tuple[T, float]:
    """``step(chunk, **kwargs)`` in a pool's worker process, and the seconds it took."""
    started = time.perf_counter()
    return _attempts(step, chunk, **kwargs), time.perf_counter() - started


def _attempts(step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``step(*args, **kwargs)``, tried again after a transient failure as often as its
    flow's task is (``RETRIES``), unless the run is stopping."""
    retries = RETRIES.get(step, 0)
    for attempt in range(retries + 1):
        try:
            return step(*args, **kwargs)
        except TransientError:
            if attempt == retries or cancel.requested():
                raise
    raise AssertionError("unreachable")


@contextmanager
def run_pool(settings: Settings) -> Iterator[ExtractionPool]:
    """The run's extraction pool, shared with its fetch steps (task threads copy the
    context): the one the command started before the run (``flows/inline.py``
    ``extraction``), else one of the run's own, ended with it. Workers start on first use:
    small work, extracted in this process, starts none."""
    started = shared_pool()
    if started is not None:
        yield started
        return
    with ExtractionPool(settings) as pool, pool.shared():
        yield pool


def _handed(
    summary: RunSummary, loader: BackgroundLoader, spooled: SpooledBatch, times: HostTimes
) -> None:
    """A step's spooled batch handed to the loader, and its request times counted."""
    summary.spooled_batches += 1
    loader.submit(spooled.batch_id)
    summary.add_hosts(times)


# --- ingest-urls -------------------------------------------------------------------------


def fetch_urls(urls: list[str], run_id: str, settings: Settings) -> tuple[SpooledBatch, HostTimes]:
    """One batch of URLs: fetch, extract, process, spool. Returns ids, counts and request
    times per host, not rows."""
    now = datetime.now(UTC)
    good = [u for u in urls if is_http_url(u)]
    items = [Candidate(origin="url", source=u, url=u, seen_at=now) for u in good]
    batch = Batch(run_id)
    if items:  # pages are spooled in parts as they are processed; the rest below
        batch = fetch_and_process(items, settings, run_id, now=now, spool=settings.spool)
    batch.rejects += [
        RejectRow(u, "intake", "bad_url", "not an http(s) URL", run_id, now)
        for u in urls
        if not is_http_url(u)
    ]
    return write_batch(batch, settings.spool), batch.host_times


def unique_urls(urls: list[str]) -> list[str]:
    return list(dict.fromkeys(u.strip() for u in urls if u.strip()))


def ingest_urls(
    summary: RunSummary, settings: Settings, urls: list[str], runner: Runner
) -> RunSummary:
    unique = unique_urls(urls)
    summary.items = len(unique)
    progress.advance("pages", 0, len(unique))
    # The run's fetch steps (task threads) share one extraction pool, ended with the run.
    with recorded(summary, settings), run_pool(settings):
        # The loader merges the parts fetch tasks spool while they fetch (and each task's rest).
        loader = BackgroundLoader(summary, settings)
        loader.follow()
        _fetch_urls(unique, summary, settings, loader, runner)
        return runner.finish(summary, settings, loader)


def _fetch_urls(
    urls: list[str],
    summary: RunSummary,
    settings: Settings,
    loader: BackgroundLoader,
    runner: Runner,
) -> None:
    """Every batch of URLs fetched in a step; each spooled batch handed to the loader."""
    futures = [
        runner.submit(fetch_urls, chunk, summary.run_id, settings)
        for chunk in chunked(urls, settings.batch_size)
    ]
    for future in futures:
        _handed(summary, loader, *future.result())


# --- ingest-seeds ------------------------------------------------------------------------


# Seed files as read: candidates, rejects, and the files' ledger rows (``read_seeds``).
SeedRead = tuple[list[Candidate], list[RejectRow], Any]


def read_seeds(paths: list[str], run_id: str, settings: Settings) -> SeedRead:
    """Parse seed files, with the ledger rows that travel with their articles (loaded in one
    transaction)."""
    return seedledger.read_with_ledger(
        [Path(p) for p in paths], run_id, max_bytes=settings.seed_max_bytes
    )


def process_seed_files(
    paths: list[str], run_id: str, settings: Settings, read: SeedRead | None = None
) -> tuple[SpooledBatch, HostTimes]:
    """One batch of seed files: parse (unless ``read``: these files, read already by this
    run), fetch listed URLs, process, spool. Returns ids, counts and the request times per
    host of listed URLs, not rows."""
    if multiprocessing.parent_process() is not None:  # in a pool's worker process
        cancel.in_worker()  # Ctrl-C stops its fetches too; it ends with its parent
    candidates, rejects, ledger = read or read_seeds(paths, run_id, settings)
    with_text = [c for c in candidates if c.text is not None]
    batch = process_candidates(with_text, run_id)
    batch.rejects.extend(rejects)
    listed = [c for c in candidates if c.text is None]  # URL lists: fetch each URL
    if listed:
        batch.extend(fetch_and_process(listed, settings, run_id))
        batch = dedupe_batch(batch)
    spooled = write_batch(batch, settings.spool, extra={seedledger.TABLE: ledger})
    return spooled, batch.host_times


def seed_files(paths: list[str] | None) -> list[Path]:
    """The seed files of ``paths`` (files, or folders of them; default ``seeds/``)."""
    return seeds.discover([Path(p) for p in (paths or ["seeds"])])


def ingest_seeds(
    summary: RunSummary,
    settings: Settings,
    files: list[Path],
    runner: Runner,
    *,
    read: SeedRead | None = None,
) -> RunSummary:
    """Ingest seed files; ``read``: all of them, read already by this run (``read_seeds``),
    so that one batch of them is not read again."""
    summary.items = len(files)
    progress.advance("seeds", 0, len(files))
    chunks = chunked([str(p) for p in files], settings.batch_size)
    with recorded(summary, settings):
        loader = BackgroundLoader(summary, settings)
        _process(chunks, summary, settings, loader, runner, read)
        return runner.finish(summary, settings, loader)


def _process(
    chunks: list[list[str]],
    summary: RunSummary,
    settings: Settings,
    loader: BackgroundLoader,
    runner: Runner,
    read: SeedRead | None = None,
) -> None:
    """Every batch of files processed in a step; each spooled batch handed to the loader."""
    # One batch: in this process. A pool would run it in one worker all the same, after
    # starting it (a fresh interpreter importing the stages: seconds on a loaded machine).
    if len(chunks) == 1:
        given = (read,) if read is not None else ()
        _handed(
            summary,
            loader,
            *runner.call(process_seed_files, chunks[0], summary.run_id, settings, *given),
        )
        progress.advance("seeds", len(chunks[0]))
        return
    # A bounded window of batches in flight keeps memory flat however many files there
    # are; one more than the workers, so none waits while the flow hands a batch to the
    # loader.
    for chunk, (spooled, times) in runner.map(
        process_seed_files,
        chunks,
        settings.parallelism + 1,
        run_id=summary.run_id,
        settings=settings,
    ):
        _handed(summary, loader, spooled, times)
        progress.advance("seeds", len(chunk))


# --- ingest-feeds ------------------------------------------------------------------------


def resolve_feeds(
    feeds: list[str] | None, feeds_file: str | None, tags: list[str] | None
) -> list[FeedSpec]:
    """Every ``--feed``, else every feed of the feeds file carrying one of ``tags``."""
    if feeds:
        return [FeedSpec(url=u) for u in dict.fromkeys(feeds)]
    specs = load_feeds_file(Path(feeds_file or DEFAULT_FEEDS_FILE)).feeds
    return select(specs, tags)


def poll_group(
    feeds: list[DueFeed], run_id: str, settings: Settings
) -> tuple[list[FeedPoll], HostTimes]:
    """Poll a group of feeds: each gives its state and entries, or a reject; and the request
    times per host."""
    timings: HostTimes = {}
    return run_async(poll_feeds(feeds, settings, run_id, timings=timings)), timings


def fetch_entries(
    items: list[Candidate], known: dict[str, str], run_id: str, settings: Settings
) -> tuple[SpooledBatch, HostTimes]:
    """One batch of feed entries: fetch the new ones, extract, process, spool."""
    # pages are spooled in parts as they are processed; the rest here
    batch = fetch_and_process(items, settings, run_id, known=known, spool=settings.spool)
    return write_batch(batch, settings.spool), batch.host_times


@dataclass
class FeedPolls:
    """A poll of feeds, before any entry is fetched: what the run will fetch."""

    prior: dict[str, tuple[Any, ...]]
    quarantined: list[str]
    polls: list[FeedPoll] = field(default_factory=list)
    rejects: list[RejectRow] = field(default_factory=list)
    items: list[Candidate] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # canonical URL of each item
    known: dict[str, str] = field(default_factory=dict)  # canonical URL -> article_id

    @property
    def new(self) -> int:
        """Entries whose page is not in the warehouse yet: the pages the run fetches."""
        return len({k for k in self.keys if k not in self.known})


def poll(
    summary: RunSummary, settings: Settings, specs: list[FeedSpec], runner: Runner
) -> FeedPolls:
    """Poll the feeds that are due (conditional GET with the stored validators), and say
    which entries are new; rejects for bad feed URLs and entries without a link."""
    now = datetime.now(UTC)
    rejects = [
        RejectRow(s.url, "feed", "bad_url", "not an http(s) URL", summary.run_id, now)
        for s in specs
        if not is_http_url(s.url)
    ]
    specs = [s for s in specs if is_http_url(s.url)]
    prior = queries.feed_validators(settings.db, settings.lock_wait, [s.url for s in specs])
    due, quarantined = _due(specs, prior, now)
    found = FeedPolls(prior, quarantined, rejects=rejects)
    found.polls = _poll(due, summary, settings, runner)
    found.items = _entries(found.polls, summary.run_id, now, found.rejects)
    found.keys = [canonical_url(i.url) for i in found.items]
    found.known = queries.known_articles(
        settings.db, settings.lock_wait, found.keys, [i.url for i in found.items]
    )
    return found


def ingest_feeds(
    summary: RunSummary,
    settings: Settings,
    runner: Runner,
    *,
    specs: list[FeedSpec] | None = None,
    polled: FeedPolls | None = None,
) -> RunSummary:
    """Poll ``specs`` (or take the poll already done, ``polled``, of this run) and ingest
    the new entries.

    Feed validators and health travel through the spool as the extra table ``feed_states``
    in a batch written after every entry batch of the run, so they are stored only once the
    entries they cover have been spooled (and load after them); a crash before that simply
    polls the feed again without validators next time, and the entries dedupe."""
    # The run's fetch steps (task threads) share one extraction pool, ended with the run.
    with recorded(summary, settings), run_pool(settings):
        found = polled or poll(summary, settings, specs or [], runner)
        summary.items = len(found.items)
        # The loader merges the parts fetch tasks spool while they fetch (and each task's rest).
        loader = BackgroundLoader(summary, settings)
        loader.follow()
        _fetch_entries(found, summary, settings, loader, runner)
        _store_feed_states(found.polls, found.rejects, summary, settings)
        summary.feed_health = feed_health_rows(
            [p.state for p in found.polls], found.prior, found.quarantined
        )
        summary.feeds = _tally(found)
        return runner.finish(summary, settings, loader)


def _due(
    specs: list[FeedSpec], prior: dict[str, tuple[Any, ...]], now: datetime
) -> tuple[list[DueFeed], list[str]]:
    """The feeds to poll now, with their validators; and those quarantined until later."""
    due: list[DueFeed] = []
    quarantined: list[str] = []
    for spec in specs:
        etag, modified, until = prior.get(spec.url, (None, None, None))
        if until is not None and until > now:
            quarantined.append(spec.url)
        else:
            due.append((spec.url, spec.name, etag, modified))
    return due, quarantined


def _poll(
    due: list[DueFeed], summary: RunSummary, settings: Settings, runner: Runner
) -> list[FeedPoll]:
    """Every due feed polled, a batch of feeds per step."""
    progress.advance("feeds", 0, len(due))
    polls: list[FeedPoll] = []
    for poll_future in [
        runner.submit(poll_group, chunk, summary.run_id, settings)
        for chunk in chunked(due, settings.batch_size)
    ]:
        polled, times = poll_future.result()
        polls.extend(polled)
        summary.add_hosts(times)
    return polls


def _entries(
    polls: list[FeedPoll], run_id: str, now: datetime, rejects: list[RejectRow]
) -> list[Candidate]:
    """The polls' entries as candidates; a failed poll or an entry without a link becomes a
    reject (added to ``rejects``)."""
    items: list[Candidate] = []
    for polled in polls:
        if polled.reject is not None:
            rejects.append(polled.reject)
        for entry in polled.parsed.entries if polled.parsed else []:
            item = entry_candidate(entry, polled.state.url, now)
            if item is None:
                detail = f"entry {entry.guid or entry.title or '?'} has no http(s) link"
                rejects.append(
                    RejectRow(polled.state.url, "feed", "no_link", detail[:500], run_id, now)
                )
            else:
                items.append(item)
    progress.advance("pages", 0, len(items))
    return items


def _fetch_entries(
    found: FeedPolls,
    summary: RunSummary,
    settings: Settings,
    loader: BackgroundLoader,
    runner: Runner,
) -> None:
    """Every batch of entries fetched in a step (known links only sighted); each spooled
    batch handed to the loader."""
    size, known = settings.batch_size, found.known
    futures = [
        runner.submit(
            fetch_entries,
            chunk,
            {k: known[k] for k in chunk_keys if k in known},
            summary.run_id,
            settings,
        )
        for chunk, chunk_keys in zip(
            chunked(found.items, size), chunked(found.keys, size), strict=True
        )
    ]
    for future in futures:
        _handed(summary, loader, *future.result())


def _store_feed_states(
    polls: list[FeedPoll], rejects: list[RejectRow], summary: RunSummary, settings: Settings
) -> None:
    """The run's rejects and the feeds' validators and health, spooled last: stored only with
    (after) the entries' batches. A cancelled run stores none: the next poll reads every feed
    again (no 304 for entries this run did not fetch), and entries already loaded are only
    sighted."""
    states = states_table([] if cancel.requested() else [p.state for p in polls])
    write_batch(
        Batch(summary.run_id, rejects=rejects), settings.spool, extra={Table.FEED_STATES: states}
    )
    summary.spooled_batches += 1


def _tally(found: FeedPolls) -> FeedTally:
    outcomes = [p.state.outcome for p in found.polls]
    ok, not_modified = outcomes.count("ok"), outcomes.count("not_modified")
    return FeedTally(
        polled=len(found.polls),
        updated=ok,
        not_modified=not_modified,
        failed=len(found.polls) - ok - not_modified,
        quarantined=len(found.quarantined),
        entries=len(found.items),
        already_known=sum(1 for k in found.keys if k in found.known),
    )


@dataclass(frozen=True)
class Step:
    """A step's one name, for the in-process run's log and its flow's Prefect task runs, and
    its attempts after it failed as a whole with a ``TransientError`` (items' own failures
    are rejects, never the step's), in both."""

    name: str
    retries: int = 0


STEPS: dict[Callable[..., Any], Step] = {
    fetch_urls: Step("fetch-pages", retries=1),
    process_seed_files: Step("process-seed-files", retries=2),
    poll_group: Step("poll-feeds", retries=1),
    fetch_entries: Step("fetch-entries", retries=1),
    close: Step(LOAD_SPOOL),
}
# The retries by step, as ``_attempts`` reads them
RETRIES: dict[Callable[..., Any], int] = {
    step: spec.retries for step, spec in STEPS.items() if spec.retries
}


def step_name(step: Callable[..., Any]) -> str:
    """The step's name (a function outside the table: its own name, dashed)."""
    known = STEPS.get(step)
    return known.name if known else step.__name__.strip("_").replace("_", "-")

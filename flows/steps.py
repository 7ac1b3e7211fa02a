"""The ingest flows' step sequences, without Prefect: what a run does, in order.

Each ingest flow (``flows/urls.py``, ``flows/seeds.py``, ``flows/feeds.py``) is this module's
sequence run with a ``PrefectRunner`` (``flows/tasked.py``: each step a Prefect task, batches
in its task runner, the final load the ``load-spool`` task, the summary an artifact); small
work runs the same sequence with ``InlineRunner``, in the command's process, without
importing Prefect (``newsflow/inline.py``). Same steps, same spool batches, same loader: the
warehouse rows and rejects are the same whichever runner ran them.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from flows.common import BackgroundLoader, RunSummary, close, recorded
from flows.observe import feed_health_rows
from newsflow import cancel, progress
from newsflow.settings import Settings
from tasks import seedledger, seeds
from tasks.dedupe import dedupe_batch
from tasks.feeds import FeedSpec, entry_candidate, load_feeds_file, select, states_table
from tasks.fetch import FeedPoll, fetch_and_process, poll_feeds, run_async
from tasks.hosttimes import HostTimes, merge
from tasks.normalize import canonical_url, is_http_url
from tasks.process import process_candidates
from tasks.records import Batch, Candidate, RejectRow
from tasks.spool import SpooledBatch, write_batch

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
C = TypeVar("C")
DEFAULT_FEEDS_FILE = "seeds/feeds.toml"
Feed = tuple[str, str | None, str | None, str | None]  # url, name, etag, last_modified


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
    """Every step in this process, one after the other (small work: ``newsflow/inline.py``);
    ``seconds``: the time each step took, by name (the run's log says it)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def _timed(self, step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            name = "load-spool" if step is close else step.__name__.replace("_", "-")
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def submit(self, step: Callable[..., T], *args: Any) -> Done[T]:
        return Done(self._timed(step, *args))

    def call(self, step: Callable[..., T], *args: Any) -> T:
        return self._timed(step, *args)

    def map(
        self, step: Callable[..., T], chunks: list[C], window: int, **kwargs: Any
    ) -> Iterator[tuple[C, T]]:
        for chunk in chunks:
            if cancel.requested():
                break
            yield chunk, self._timed(step, chunk, **kwargs)

    def finish(
        self, summary: RunSummary, settings: Settings, loader: BackgroundLoader
    ) -> RunSummary:
        return self._timed(close, summary, settings, loader=loader)


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


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
) -> dict[str, Any]:
    unique = unique_urls(urls)
    summary.items = len(unique)
    progress.advance("pages", 0, len(unique))
    with recorded(summary, settings):
        # The loader merges the parts fetch tasks spool while they fetch (and each task's rest).
        loader = BackgroundLoader(summary, settings)
        loader.follow()
        futures = [
            runner.submit(fetch_urls, chunk, summary.run_id, settings)
            for chunk in _chunks(unique, settings.batch_size)
        ]
        for future in futures:
            spooled, times = future.result()
            summary.spooled_batches += 1
            loader.submit(spooled.batch_id)
            summary.add_hosts(times)
        return runner.finish(summary, settings, loader).as_dict()


# --- ingest-seeds ------------------------------------------------------------------------


def process_seed_files(
    paths: list[str], run_id: str, settings: Settings
) -> tuple[SpooledBatch, HostTimes]:
    """One batch of seed files: parse, fetch listed URLs, process, spool. Returns ids,
    counts and the request times per host of listed URLs, not rows."""
    if multiprocessing.parent_process() is not None:  # in a pool's worker process
        cancel.in_worker()  # Ctrl-C stops its fetches too; it ends with its parent
    # The files' ledger rows travel with their articles: loaded in one transaction.
    candidates, rejects, ledger = seedledger.read_with_ledger(
        [Path(p) for p in paths], run_id, max_bytes=settings.seed_max_bytes
    )
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
    summary: RunSummary, settings: Settings, files: list[Path], runner: Runner
) -> dict[str, Any]:
    summary.items = len(files)
    progress.advance("seeds", 0, len(files))
    size = settings.batch_size
    chunks = [[str(p) for p in chunk] for chunk in _chunks(files, size)]
    with recorded(summary, settings):
        loader = BackgroundLoader(summary, settings)

        def done(chunk: list[str], spooled: SpooledBatch, times: HostTimes) -> None:
            summary.spooled_batches += 1
            summary.add_hosts(times)
            loader.submit(spooled.batch_id)
            progress.advance("seeds", len(chunk))

        # One batch: in this process. A pool would run it in one worker all the same, after
        # starting it (a fresh interpreter importing the stages: seconds on a loaded machine).
        if len(chunks) == 1:
            done(chunks[0], *runner.call(process_seed_files, chunks[0], summary.run_id, settings))
        # A bounded window of batches in flight keeps memory flat however many files there
        # are; one more than the workers, so none waits while the flow hands a batch to the
        # loader.
        for chunk, (spooled, times) in runner.map(
            process_seed_files,
            chunks if len(chunks) > 1 else [],
            settings.parallelism + 1,
            run_id=summary.run_id,
            settings=settings,
        ):
            done(chunk, spooled, times)
        return runner.finish(summary, settings, loader).as_dict()


# --- ingest-feeds ------------------------------------------------------------------------


def resolve_feeds(
    feeds: list[str] | None, feeds_file: str | None, tags: list[str] | None
) -> list[FeedSpec]:
    """Every ``--feed``, else every feed of the feeds file carrying one of ``tags``."""
    if feeds:
        return [FeedSpec(url=u) for u in dict.fromkeys(feeds)]
    specs = load_feeds_file(Path(feeds_file or DEFAULT_FEEDS_FILE)).feeds
    return select(specs, tags)


def _warehouse_rows(settings: Settings, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Rows from the warehouse, read-only; none when there is no warehouse yet."""
    from warehouse.db import connect_reader

    if not settings.db.exists():
        return []
    con = connect_reader(settings.db, wait=settings.lock_wait)
    try:
        rows: list[tuple[Any, ...]] = con.execute(sql, params).fetchall()
        return rows
    except Exception:  # a warehouse from before the feed columns: nothing known yet
        return []
    finally:
        con.close()


def feed_states(settings: Settings, urls: list[str]) -> dict[str, tuple[Any, ...]]:
    """url -> (etag, last_modified, quarantined_until) from the warehouse."""
    rows = _warehouse_rows(
        settings,
        "SELECT url, etag, last_modified, quarantined_until FROM feeds WHERE url IN "
        "(SELECT unnest(?::VARCHAR[]))",
        [urls],
    )
    return {r[0]: r[1:] for r in rows}


def known_articles(settings: Settings, canonicals: list[str], urls: list[str]) -> dict[str, str]:
    """canonical URL of a link -> article_id, for links already loaded (by canonical URL or
    as a URL seen before, e.g. a feed link that redirects to the article)."""
    rows = _warehouse_rows(
        settings,
        "SELECT canonical_url, article_id FROM articles WHERE canonical_url IN "
        "(SELECT unnest(?::VARCHAR[])) UNION ALL "
        "SELECT url_seen, any_value(article_id) FROM article_sightings WHERE url_seen IN "
        "(SELECT unnest(?::VARCHAR[])) GROUP BY url_seen",
        [canonicals, urls],
    )
    found = {canonical_url(key): aid for key, aid in rows}
    return found


def poll_group(
    feeds: list[Feed], run_id: str, settings: Settings
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

    run_id: str
    now: datetime
    prior: dict[str, tuple[Any, ...]]
    quarantined: list[str]
    polls: list[FeedPoll] = field(default_factory=list)
    rejects: list[RejectRow] = field(default_factory=list)
    hosts: HostTimes = field(default_factory=dict)
    items: list[Candidate] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # canonical URL of each item
    known: dict[str, str] = field(default_factory=dict)  # canonical URL -> article_id

    @property
    def new(self) -> int:
        """Entries whose page is not in the warehouse yet: the pages the run fetches."""
        return len({k for k in self.keys if k not in self.known})


def poll(run_id: str, settings: Settings, specs: list[FeedSpec], runner: Runner) -> FeedPolls:
    """Poll the feeds that are due (conditional GET with the stored validators), and say
    which entries are new; rejects for bad feed URLs and entries without a link."""
    now = datetime.now(UTC)
    rejects = [
        RejectRow(s.url, "feed", "bad_url", "not an http(s) URL", run_id, now)
        for s in specs
        if not is_http_url(s.url)
    ]
    specs = [s for s in specs if is_http_url(s.url)]
    prior = feed_states(settings, [s.url for s in specs])
    due: list[Feed] = []
    quarantined: list[str] = []
    for spec in specs:
        etag, modified, until = prior.get(spec.url, (None, None, None))
        if until is not None and until > now:
            quarantined.append(spec.url)
        else:
            due.append((spec.url, spec.name, etag, modified))
    found = FeedPolls(run_id, now, prior, quarantined, rejects=rejects)
    progress.advance("feeds", 0, len(due))
    futures = [
        runner.submit(poll_group, group, run_id, settings)
        for group in _chunks(due, settings.batch_size)
    ]
    for future in futures:
        polled, times = future.result()
        found.polls.extend(polled)
        merge(found.hosts, times)
    for polled_feed in found.polls:
        if polled_feed.reject is not None:
            found.rejects.append(polled_feed.reject)
        for entry in polled_feed.parsed.entries if polled_feed.parsed else []:
            item = entry_candidate(entry, polled_feed.state.url, now)
            if item is None:
                detail = f"entry {entry.guid or entry.title or '?'} has no http(s) link"
                found.rejects.append(
                    RejectRow(polled_feed.state.url, "feed", "no_link", detail[:500], run_id, now)
                )
            else:
                found.items.append(item)
    found.keys = [canonical_url(i.url) for i in found.items]
    found.known = known_articles(settings, found.keys, [i.url for i in found.items])
    return found


def ingest_feeds(
    summary: RunSummary,
    settings: Settings,
    runner: Runner,
    *,
    specs: list[FeedSpec] | None = None,
    polled: FeedPolls | None = None,
) -> dict[str, Any]:
    """Poll ``specs`` (or take the poll already done, ``polled``, of this run) and ingest
    the new entries.

    Feed validators and health travel through the spool as the extra table ``feed_states``
    in a batch written after every entry batch of the run, so they are stored only once the
    entries they cover have been spooled (and load after them); a crash before that simply
    polls the feed again without validators next time, and the entries dedupe."""
    with recorded(summary, settings):
        found = polled or poll(summary.run_id, settings, specs or [], runner)
        summary.add_hosts(found.hosts)
        items, keys, known = found.items, found.keys, found.known
        summary.items = len(items)
        progress.advance("pages", 0, len(items))
        size = settings.batch_size
        # The loader merges the parts fetch tasks spool while they fetch (and each task's rest).
        loader = BackgroundLoader(summary, settings)
        loader.follow()
        futures = [
            runner.submit(
                fetch_entries,
                items[i : i + size],
                {k: known[k] for k in keys[i : i + size] if k in known},
                summary.run_id,
                settings,
            )
            for i in range(0, len(items), size)
        ]
        spooled = []
        for future in futures:
            entries, times = future.result()
            spooled.append(entries)
            loader.submit(entries.batch_id)
            summary.add_hosts(times)
        # Written last: validators and health are stored only with (after) the entries' batches.
        # A cancelled run stores none: the next poll reads every feed again (no 304 for
        # entries this run did not fetch), and entries already loaded are only sighted.
        polls = found.polls
        states = states_table([] if cancel.requested() else [p.state for p in polls])
        spooled.append(
            write_batch(
                Batch(summary.run_id, rejects=found.rejects),
                settings.spool,
                extra={"feed_states": states},
            )
        )
        summary.spooled_batches = len(spooled)
        summary.feed_health = feed_health_rows(
            [p.state for p in polls], found.prior, found.quarantined
        )
        result = runner.finish(summary, settings, loader).as_dict()
        outcomes = [p.state.outcome for p in polls]
        result["feeds"] = {
            "polled": len(polls),
            "updated": outcomes.count("ok"),
            "not_modified": outcomes.count("not_modified"),
            "failed": len(polls) - outcomes.count("ok") - outcomes.count("not_modified"),
            "quarantined": len(found.quarantined),
            "entries": len(items),
            "already_known": sum(1 for k in keys if k in known),
        }
        return result

"""Flow ``ingest-feeds``: poll feeds (conditional GET) -> entries -> pages -> rows -> warehouse.

Feed validators and health travel through the spool as the extra table ``feed_states`` in a
batch written after every entry batch of the run, so they are stored only once the entries
they cover have been spooled (and load after them); a crash before that simply polls the
feed again without validators next time, and the entries dedupe.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from newsflow import cancel, progress
from newsflow.flows.fanout import chunked
from newsflow.flows.lifecycle import current_run_id, finish, outcome, recorded
from newsflow.flows.loading import BackgroundLoader
from newsflow.flows.observe import feed_health_rows
from newsflow.flows.runners import SettingsTaskRunner
from newsflow.flows.summary import FeedTally, RunSummary
from newsflow.settings import Settings
from newsflow.tasks.async_bridge import run_async
from newsflow.tasks.contract import Table
from newsflow.tasks.errors import retry_transient
from newsflow.tasks.extraction_pool import ExtractionPool
from newsflow.tasks.feed_intake import FeedPoll, poll_feeds
from newsflow.tasks.feeds import FeedSpec, entry_candidate, load_feeds_file, select, states_table
from newsflow.tasks.fetch import fetch_and_process
from newsflow.tasks.hosttimes import HostTimes
from newsflow.tasks.normalize import canonical_url, is_http_url
from newsflow.tasks.records import Batch, Candidate, RejectRow
from newsflow.tasks.spool import SpooledBatch, write_batch
from newsflow.warehouse import queries

DEFAULT_FEEDS_FILE = "seeds/feeds.toml"

# A feed to poll: url, name, and the validators of its last answer (etag, last-modified).
DueFeed = tuple[str, str | None, str | None, str | None]


def resolve_feeds(
    feeds: list[str] | None, feeds_file: str | None, tags: list[str] | None
) -> list[FeedSpec]:
    """Every ``--feed``, else every feed of the feeds file carrying one of ``tags``."""
    if feeds:
        return [FeedSpec(url=u) for u in dict.fromkeys(feeds)]
    specs = load_feeds_file(Path(feeds_file or DEFAULT_FEEDS_FILE)).feeds
    return select(specs, tags)


@task(name="poll-feeds", retries=1, retry_condition_fn=retry_transient)
def poll_feeds_task(
    feeds: list[tuple[str, str | None, str | None, str | None]], run_id: str, settings: Settings
) -> tuple[list[FeedPoll], HostTimes]:
    """Poll a group of feeds: each gives its state and entries, or a reject; and the request
    times per host."""
    timings: HostTimes = {}
    return run_async(poll_feeds(feeds, settings, run_id, timings=timings)), timings


@task(name="fetch-entries", retries=1, retry_condition_fn=retry_transient)
def fetch_entries_task(
    items: list[Candidate], known: dict[str, str], run_id: str, settings: Settings
) -> tuple[SpooledBatch, HostTimes]:
    """One batch of feed entries: fetch the new ones, extract, process, spool."""
    # pages are spooled in parts as they are processed; the rest here
    batch = fetch_and_process(items, settings, run_id, known=known, spool=settings.spool)
    return write_batch(batch, settings.spool), batch.host_times


# Fetch tasks in threads (extraction in processes), or on Dask (flows/runners.py).
@flow(name="ingest-feeds", log_prints=True, task_runner=SettingsTaskRunner(ThreadPoolTaskRunner))
def ingest_feeds(
    feeds: list[str] | None = None,
    feeds_file: str | None = None,
    tags: list[str] | None = None,
    settings: Settings | None = None,
) -> RunSummary:
    """Poll feeds (``feeds``, else those of ``feeds_file`` with any of ``tags``) and ingest
    their new entries."""
    settings = settings or Settings()
    summary = RunSummary(run_id=current_run_id(), flow="ingest-feeds")
    now = datetime.now(UTC)
    specs = resolve_feeds(feeds, feeds_file, tags)
    rejects = [
        RejectRow(s.url, "feed", "bad_url", "not an http(s) URL", summary.run_id, now)
        for s in specs
        if not is_http_url(s.url)
    ]
    specs = [s for s in specs if is_http_url(s.url)]
    # The run's fetch tasks (threads) share one extraction pool, ended with the run.
    with recorded(summary, settings), ExtractionPool(settings) as pool, pool.shared():
        prior = queries.feed_validators(settings.db, settings.lock_wait, [s.url for s in specs])
        due, quarantined = _due(specs, prior, now)
        polls = _poll(due, summary, settings)
        items = _entries(polls, summary.run_id, now, rejects)
        summary.items = len(items)
        keys = [canonical_url(i.url) for i in items]
        known = queries.known_articles(
            settings.db, settings.lock_wait, keys, [i.url for i in items]
        )
        # The loader merges the parts fetch tasks spool while they fetch (and each task's rest).
        loader = BackgroundLoader(summary, settings)
        loader.follow()
        _fetch(items, keys, known, summary, settings, loader)
        _store_feed_states(polls, rejects, summary, settings)
        summary.feed_health = feed_health_rows([p.state for p in polls], prior, quarantined)
        summary.feeds = _tally(polls, quarantined, items, keys, known)
        return outcome(finish(summary, settings, loader=loader))


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


def _poll(due: list[DueFeed], summary: RunSummary, settings: Settings) -> list[FeedPoll]:
    """Every due feed polled, a batch of feeds per task."""
    progress.advance("feeds", 0, len(due))
    polls: list[FeedPoll] = []
    for poll_future in [
        poll_feeds_task.submit(chunk, summary.run_id, settings)
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
    for poll in polls:
        if poll.reject is not None:
            rejects.append(poll.reject)
        for entry in poll.parsed.entries if poll.parsed else []:
            item = entry_candidate(entry, poll.state.url, now)
            if item is None:
                detail = f"entry {entry.guid or entry.title or '?'} has no http(s) link"
                rejects.append(
                    RejectRow(poll.state.url, "feed", "no_link", detail[:500], run_id, now)
                )
            else:
                items.append(item)
    progress.advance("pages", 0, len(items))
    return items


def _fetch(
    items: list[Candidate],
    keys: list[str],
    known: dict[str, str],
    summary: RunSummary,
    settings: Settings,
    loader: BackgroundLoader,
) -> None:
    """Every batch of entries fetched in a task (known links only sighted); each spooled
    batch handed to the loader."""
    futures = [
        fetch_entries_task.submit(
            chunk, {k: known[k] for k in chunk_keys if k in known}, summary.run_id, settings
        )
        for chunk, chunk_keys in zip(
            chunked(items, settings.batch_size), chunked(keys, settings.batch_size), strict=True
        )
    ]
    for future in futures:
        entries, times = future.result()
        summary.spooled_batches += 1
        loader.submit(entries.batch_id)
        summary.add_hosts(times)


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


def _tally(
    polls: list[FeedPoll],
    quarantined: list[str],
    items: list[Candidate],
    keys: list[str],
    known: dict[str, str],
) -> FeedTally:
    outcomes = [p.state.outcome for p in polls]
    ok, not_modified = outcomes.count("ok"), outcomes.count("not_modified")
    return FeedTally(
        polled=len(polls),
        updated=ok,
        not_modified=not_modified,
        failed=len(polls) - ok - not_modified,
        quarantined=len(quarantined),
        entries=len(items),
        already_known=sum(1 for k in keys if k in known),
    )

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

from flows.common import BackgroundLoader, RunSummary, current_run_id, finish, outcome, recorded
from flows.observe import feed_health_rows
from flows.runners import SettingsTaskRunner
from newsflow import cancel, progress
from newsflow.settings import Settings
from tasks.async_bridge import run_async
from tasks.contract import Table
from tasks.errors import retry_transient
from tasks.extraction_pool import ExtractionPool
from tasks.feed_intake import FeedPoll, poll_feeds
from tasks.feeds import FeedSpec, entry_candidate, load_feeds_file, select, states_table
from tasks.fetch import fetch_and_process
from tasks.hosttimes import HostTimes
from tasks.normalize import canonical_url, is_http_url
from tasks.records import Batch, Candidate, RejectRow
from tasks.spool import SpooledBatch, write_batch

DEFAULT_FEEDS_FILE = "seeds/feeds.toml"


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
) -> dict:
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
        prior = feed_states(settings, [s.url for s in specs])
        due, quarantined = [], []
        for spec in specs:
            etag, modified, until = prior.get(spec.url, (None, None, None))
            if until is not None and until > now:
                quarantined.append(spec.url)
            else:
                due.append((spec.url, spec.name, etag, modified))
        progress.advance("feeds", 0, len(due))
        polls: list[FeedPoll] = []
        size = settings.batch_size
        for poll_future in [
            poll_feeds_task.submit(due[i : i + size], summary.run_id, settings)
            for i in range(0, len(due), size)
        ]:
            polled, times = poll_future.result()
            polls.extend(polled)
            summary.add_hosts(times)
        items: list[Candidate] = []
        for poll in polls:
            if poll.reject is not None:
                rejects.append(poll.reject)
            for entry in poll.parsed.entries if poll.parsed else []:
                item = entry_candidate(entry, poll.state.url, now)
                if item is None:
                    detail = f"entry {entry.guid or entry.title or '?'} has no http(s) link"
                    rejects.append(
                        RejectRow(
                            poll.state.url, "feed", "no_link", detail[:500], summary.run_id, now
                        )
                    )
                else:
                    items.append(item)
        summary.items = len(items)
        progress.advance("pages", 0, len(items))
        keys = [canonical_url(i.url) for i in items]
        known = known_articles(settings, keys, [i.url for i in items])
        # The loader merges the parts fetch tasks spool while they fetch (and each task's rest).
        loader = BackgroundLoader(summary, settings)
        loader.follow()
        futures = [
            fetch_entries_task.submit(
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
        states = states_table([] if cancel.requested() else [p.state for p in polls])
        spooled.append(
            write_batch(
                Batch(summary.run_id, rejects=rejects),
                settings.spool,
                extra={Table.FEED_STATES: states},
            )
        )
        summary.spooled_batches = len(spooled)
        summary.feed_health = feed_health_rows([p.state for p in polls], prior, quarantined)
        result = finish(summary, settings, loader=loader).as_dict()
        outcomes = [p.state.outcome for p in polls]
        result["feeds"] = {
            "polled": len(polls),
            "updated": outcomes.count("ok"),
            "not_modified": outcomes.count("not_modified"),
            "failed": len(polls) - outcomes.count("ok") - outcomes.count("not_modified"),
            "quarantined": len(quarantined),
            "entries": len(items),
            "already_known": sum(1 for k in keys if k in known),
        }
        return outcome(result)

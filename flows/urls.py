"""Flow ``ingest-urls``: article URLs -> fetched, extracted pages -> rows -> spool -> warehouse."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from newsflow import progress
from newsflow.flows.fanout import chunked
from newsflow.flows.lifecycle import current_run_id, finish, outcome, recorded
from newsflow.flows.loading import BackgroundLoader
from newsflow.flows.runners import SettingsTaskRunner
from newsflow.flows.summary import RunSummary
from newsflow.settings import Settings
from newsflow.tasks.errors import retry_transient
from newsflow.tasks.extraction_pool import ExtractionPool
from newsflow.tasks.fetch import fetch_and_process
from newsflow.tasks.hosttimes import HostTimes
from newsflow.tasks.normalize import is_http_url
from newsflow.tasks.records import Batch, Candidate, RejectRow
from newsflow.tasks.spool import SpooledBatch, write_batch


@task(name="fetch-pages", retries=1, retry_condition_fn=retry_transient)
def fetch_pages_task(
    urls: list[str], run_id: str, settings: Settings
) -> tuple[SpooledBatch, HostTimes]:
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


# Fetch tasks in threads (extraction in processes), or on Dask (flows/runners.py).
@flow(name="ingest-urls", log_prints=True, task_runner=SettingsTaskRunner(ThreadPoolTaskRunner))
def ingest_urls(urls: list[str], settings: Settings | None = None) -> RunSummary:
    """Fetch and ingest single article pages."""
    settings = settings or Settings()
    summary = RunSummary(run_id=current_run_id(), flow="ingest-urls")
    unique = list(dict.fromkeys(u.strip() for u in urls if u.strip()))
    summary.items = len(unique)
    progress.advance("pages", 0, len(unique))
    # The run's fetch tasks (threads) share one extraction pool, ended with the run.
    with recorded(summary, settings), ExtractionPool(settings) as pool, pool.shared():
        # The loader merges the parts fetch tasks spool while they fetch (and each task's rest).
        loader = BackgroundLoader(summary, settings)
        loader.follow()
        _fetch(unique, summary, settings, loader)
        return outcome(finish(summary, settings, loader=loader))


def _fetch(
    urls: list[str], summary: RunSummary, settings: Settings, loader: BackgroundLoader
) -> None:
    """Every batch of URLs fetched in a task; each spooled batch handed to the loader."""
    futures = [
        fetch_pages_task.submit(chunk, summary.run_id, settings)
        for chunk in chunked(urls, settings.batch_size)
    ]
    for future in futures:
        spooled, times = future.result()
        summary.spooled_batches += 1
        loader.submit(spooled.batch_id)
        summary.add_hosts(times)

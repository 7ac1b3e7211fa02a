"""Flow ``ingest-seeds``: seed files -> candidates -> rows -> spool -> warehouse."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from prefect import flow, task
from prefect.task_runners import ProcessPoolTaskRunner

from newsflow import cancel, progress
from newsflow.flows.fanout import bounded_map, chunked
from newsflow.flows.lifecycle import current_run_id, finish, outcome, recorded
from newsflow.flows.loading import BackgroundLoader
from newsflow.flows.runners import SettingsTaskRunner
from newsflow.flows.summary import RunSummary
from newsflow.settings import Settings
from newsflow.tasks import seedledger, seeds
from newsflow.tasks.errors import retry_transient
from newsflow.tasks.exact_duplicates import dedupe_batch
from newsflow.tasks.fetch import fetch_and_process
from newsflow.tasks.hosttimes import HostTimes
from newsflow.tasks.process import process_candidates
from newsflow.tasks.spool import SpooledBatch, write_batch


@task(name="process-seed-files", retries=2, retry_condition_fn=retry_transient)
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


# Batches in a process pool, or on Dask with NEWSFLOW_TASK_RUNNER=dask (flows/runners.py).
@flow(name="ingest-seeds", log_prints=True, task_runner=SettingsTaskRunner(ProcessPoolTaskRunner))
def ingest_seeds(paths: list[str] | None = None, settings: Settings | None = None) -> RunSummary:
    """Ingest seed files (article files and URL lists) or folders of them (default ``seeds/``)."""
    settings = settings or Settings()
    summary = RunSummary(run_id=current_run_id(), flow="ingest-seeds")
    files = seeds.discover([Path(p) for p in (paths or ["seeds"])])
    summary.items = len(files)
    progress.advance("seeds", 0, len(files))
    chunks = chunked([str(p) for p in files], settings.batch_size)
    with recorded(summary, settings):
        loader = BackgroundLoader(summary, settings)
        _process(chunks, summary, settings, loader)
        return outcome(finish(summary, settings, loader=loader))


def _process(
    chunks: list[list[str]], summary: RunSummary, settings: Settings, loader: BackgroundLoader
) -> None:
    """Every batch of files processed in a task; each spooled batch handed to the loader."""
    # One batch: in this process. A pool would run it in one worker all the same, after
    # starting it (a fresh interpreter importing the stages: seconds on a loaded machine).
    if len(chunks) == 1:
        spooled, times = process_seed_files(chunks[0], summary.run_id, settings)
        _done(summary, loader, chunks[0], spooled, times)
        return
    # A bounded window of batches in flight keeps memory flat however many files there
    # are; one more than the workers, so none waits while the flow hands a batch to the
    # loader.
    for chunk, (spooled, times) in bounded_map(
        process_seed_files,
        chunks,
        settings.parallelism + 1,
        run_id=summary.run_id,
        settings=settings,
    ):
        _done(summary, loader, chunk, spooled, times)


def _done(
    summary: RunSummary,
    loader: BackgroundLoader,
    chunk: list[str],
    spooled: SpooledBatch,
    times: HostTimes,
) -> None:
    summary.spooled_batches += 1
    summary.add_hosts(times)
    loader.submit(spooled.batch_id)
    progress.advance("seeds", len(chunk))

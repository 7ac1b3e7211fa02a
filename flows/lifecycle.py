"""A flow run from start to end: its id, its row in the warehouse while it runs, and its
finish (the final load, the row recorded, events, the summary artifact).

Prefect is imported only by the functions that need a flow run (``current_run_id``,
``outcome``, ``finish``): a run in the command's process (``flows/inline.py``) uses
``recorded`` and ``close`` without importing it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from newsflow import cancel
from newsflow.flows import observe
from newsflow.flows.loading import BackgroundLoader, load_step, load_task
from newsflow.flows.summary import RunSummary
from newsflow.settings import Settings
from newsflow.tasks.contract import Table, to_arrow
from newsflow.tasks.records import Batch
from newsflow.tasks.spool import write_batch
from newsflow.warehouse import queries
from newsflow.warehouse.db import WarehouseLocked
from newsflow.warehouse.loader import LoadReport, RunRow

if TYPE_CHECKING:  # Prefect is imported only by the runs that use it
    from prefect.client.schemas.objects import State

LoadFn = Callable[[Settings, RunRow, int], LoadReport]

log = logging.getLogger(__name__)

START_WAIT = 2.0  # seconds a run waits at its start for the warehouse to write its row


def current_run_id() -> str:
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    return str(run_id) if run_id else f"local-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"


@contextmanager
def recorded(summary: RunSummary, settings: Settings) -> Iterator[None]:
    """The run's row from start to end: ``running`` with its process when it starts (runs
    whose process is gone are marked ``abandoned`` then), ``failed`` with its error if the
    flow raises. (``finish`` records ``completed`` or ``cancelled``.) Work-pool workers,
    which never write the warehouse, leave it to their ``finish``."""
    cancel.reclaim()  # a command's Ctrl-C/SIGTERM handling, over the flow engine's
    if settings.load_in_flow:
        _start_row(summary, settings)
    try:
        yield
    except Exception as error:
        if settings.load_in_flow:
            _record_failure(summary, settings, error)
        raise


def _start_row(summary: RunSummary, settings: Settings) -> None:
    """The run's ``running`` row, if the warehouse is free within a moment; if another
    process holds it (an analyst's session, a long load), the run goes on and its row comes
    with its first load, as its batches wait in the spool meanwhile."""
    wait = min(settings.lock_wait, START_WAIT)
    try:
        found = queries.start_run_row(
            settings.db,
            wait,
            summary.run_id,
            summary.flow,
            summary.started_at,
            lake_data=settings.lake_data,
        )
    except WarehouseLocked as error:
        log.info("run %s starts without its row for now: %s", summary.run_id, error)
        return
    if found:
        log.warning("%d earlier runs whose process is gone were marked abandoned", found)


def _record_failure(summary: RunSummary, settings: Settings, error: Exception) -> None:
    """Mark the run ``failed`` with its error, and its counts so far. Best effort: if the
    warehouse cannot be written (the failure may be that), the next start finds the run's
    process gone and marks it ``abandoned``."""
    message = f"{type(error).__name__}: {error}".splitlines()[0][:500]
    run = _row(summary, "failed")
    try:
        queries.record_failed_run(
            settings.db,
            min(settings.lock_wait, 30.0),
            run,
            datetime.now(UTC),
            message,
            lake_data=settings.lake_data,
        )
    except Exception as again:
        # Not a second error line for the operator: the run's own error says what failed
        # (often the same full disk), and the next start marks the run abandoned.
        log.info("could not record run %s as failed: %s", summary.run_id, again)


def _row(summary: RunSummary, status: str) -> RunRow:
    return RunRow(
        summary.run_id,
        summary.flow,
        summary.started_at,
        summary.finished_at,
        status,
        summary.items,
    )


def outcome(summary: RunSummary) -> RunSummary | State[RunSummary]:
    """What a flow returns: its summary, or, when it was asked to stop, a Cancelled state
    carrying the summary (so the Prefect run ends Cancelled, not Completed)."""
    if not cancel.requested():
        return summary
    from prefect.states import Cancelled

    return Cancelled(
        message=f"cancelled (Ctrl-C or SIGTERM) after loading {summary.load.loaded} new "
        "articles; the rest is fetched by a later run",
        data=summary,
    )


def finish(
    summary: RunSummary,
    settings: Settings,
    *,
    load: bool | None = None,
    loader: BackgroundLoader | None = None,
) -> RunSummary:
    """Load the spool (unless ``load`` or ``settings.load_in_flow`` says a loader elsewhere
    does), record the run, publish the summary artifact. ``loader``: the run's background
    loader, whose loads are awaited and counted first."""
    from prefect.artifacts import create_markdown_artifact

    close(summary, settings, load=load, loader=loader, load_fn=load_task)
    observe.publish(summary, settings)
    create_markdown_artifact(
        key=summary.flow.replace("_", "-"),
        markdown=summary.markdown(),
        description=f"{summary.flow} run summary",
    )
    return summary


def close(
    summary: RunSummary,
    settings: Settings,
    *,
    load: bool | None = None,
    loader: BackgroundLoader | None = None,
    load_fn: LoadFn = load_step,
) -> RunSummary:
    """``finish`` without Prefect: await the background loads, load the spool with
    ``load_fn`` (``load_task`` in a flow run) and record the run's row; no events, no
    artifact (a run in process sends those through the REST API: ``flows/inline.py``)."""
    loaded_before = loader.wait() if loader is not None else LoadReport()
    summary.finished_at = datetime.now(UTC)
    stopped = cancel.requested()
    run = _row(summary, "cancelled" if stopped else "completed")
    if settings.load_in_flow if load is None else load:
        # what the run spooled is loaded (a cancelled run skips publishing: the next load
        # publishes); the counts are the run's row's, whichever process merged its batches
        loading = settings.model_copy(update={"publish": False}) if stopped else settings
        summary.load = load_fn(loading, run, loaded_before.batches)
        summary.load.skipped_batches += loaded_before.skipped_batches
        summary.load.revised += loaded_before.revised
    else:  # a work-pool worker: the run's row travels through the spool like every write
        write_batch(
            Batch(summary.run_id), settings.spool, extra={Table.RUNS: to_arrow(Table.RUNS, [run])}
        )
        summary.spooled_batches += 1
    return summary

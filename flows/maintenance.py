"""Flows ``load-spool`` (the loader on its own) and ``maintenance`` (spool health, feed
re-probes, and on a DuckLake warehouse the lake's own maintenance)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger

from newsflow.flows.feeds import ingest_feeds
from newsflow.flows.lifecycle import current_run_id, finish
from newsflow.flows.summary import MaintenanceReport, RunSummary
from newsflow.settings import Settings
from newsflow.tasks import spool as spool_mod
from newsflow.warehouse import lake as lakemod
from newsflow.warehouse import lake_maintenance, queries, storage


@flow(name="load-spool", log_prints=True)
def load_spool_flow(settings: Settings | None = None) -> RunSummary:
    """Merge every batch waiting in the spool into the warehouse (the single writer)."""
    settings = settings or Settings()
    summary = RunSummary(run_id=current_run_id(), flow="load-spool")
    summary.items = len(spool_mod.pending(settings.spool))
    return finish(summary, settings, load=True)


def _batch_age_hours(batch_id: str, now: datetime) -> float | None:
    """Batch ids start with their UTC creation stamp (``%Y%m%dT%H%M%S%f``)."""
    try:
        made = datetime.strptime(batch_id.split("-", 1)[0], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    except ValueError:
        return None
    return (now - made).total_seconds() / 3600


@flow(name="maintenance", log_prints=True)
def maintenance(
    abandoned_after_hours: float = 24.0,
    waiting_warn_hours: float = 2.0,
    reprobe_feeds: bool = True,
    settings: Settings | None = None,
) -> MaintenanceReport:
    """Spool health (batches waiting for the loader, abandoned partial batches removed),
    re-probes of feeds whose quarantine ran out, also feeds no schedule polls any more, and,
    when the warehouse is a DuckLake, its maintenance
    (``lake_maintenance.maintain_warehouse``: inlined rows flushed, small files merged,
    snapshots older than ``NEWSFLOW_SNAPSHOT_DAYS`` expired, the files only they used
    deleted).

    A batch folder without a manifest is a write that died half-way; its task was retried or
    its run failed, so the rows exist elsewhere or will be produced again.
    """
    settings = settings or Settings()
    reprobed = _reprobe_feeds(settings) if reprobe_feeds else []
    waiting, oldest = _waiting_batches(settings, waiting_warn_hours)
    abandoned = _remove_abandoned(settings, abandoned_after_hours)
    report = MaintenanceReport(
        waiting_batches=len(waiting),
        oldest_waiting_hours=round(oldest, 2),
        abandoned_removed=len(abandoned),
        feeds_reprobed=len(reprobed),
        run_id=current_run_id(),
    )
    report = _maintain_lake(settings, report)
    create_markdown_artifact(
        key="maintenance", markdown=report.markdown(), description="spool health"
    )
    return report


def _maintain_lake(settings: Settings, report: MaintenanceReport) -> MaintenanceReport:
    """The lake's maintenance pass (``lake_maintenance.maintain_warehouse``), its figures
    added to the report. A lake that cannot be maintained now (not there yet, a step whose
    commit met a loader's) is reported and logged; the next run tries again."""
    try:
        done = lake_maintenance.maintain_warehouse(
            settings.db, settings.lake_data, keep_days=settings.snapshot_days
        )
    except lakemod.LakeError as exc:
        get_run_logger().warning("lake maintenance: %s", exc)
        lake = str(storage.absolute(settings.db))
        return replace(report, lake=lake, snapshot_days=settings.snapshot_days, lake_error=str(exc))
    if done is None:  # a single-file warehouse
        return report
    for line in done.lines():
        get_run_logger().info("lake %s: %s", done.target, line)
    return report.with_lake(done)


def _reprobe_feeds(settings: Settings) -> list[str]:
    """Quarantined feeds whose quarantine has run out, polled again to see if they recovered."""
    reprobed = queries.feeds_due_for_reprobe(settings.db, settings.lock_wait)
    if reprobed:
        get_run_logger().info("re-probing %d feeds whose quarantine ran out", len(reprobed))
        ingest_feeds(feeds=reprobed, settings=settings)
    return reprobed


def _waiting_batches(settings: Settings, warn_hours: float) -> tuple[list[str], float]:
    """The batches waiting for the loader, and the oldest one's age in hours (a warning past
    ``warn_hours``)."""
    now = datetime.now(UTC)
    waiting = spool_mod.pending(settings.spool)
    ages = [a for a in (_batch_age_hours(b, now) for b in waiting) if a is not None]
    oldest = max(ages, default=0.0)
    if oldest > warn_hours:
        get_run_logger().warning(
            "%d batches wait for the loader, the oldest for %.1f h: is the warehouse locked?",
            len(waiting),
            oldest,
        )
    return waiting, oldest


def _remove_abandoned(settings: Settings, older_than_hours: float) -> list[str]:
    """Partial batches (no manifest) older than ``older_than_hours``, removed."""
    abandoned = spool_mod.incomplete(settings.spool, older_than=older_than_hours * 3600)
    for batch_id in abandoned:
        spool_mod.remove_batch(settings.spool, batch_id)
    if abandoned:
        get_run_logger().warning("removed %d abandoned partial batches", len(abandoned))
    return abandoned

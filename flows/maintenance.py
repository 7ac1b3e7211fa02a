"""Flows ``load-spool`` (the loader on its own) and ``maintenance`` (spool health, feed
re-probes)."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger

from flows.common import RunSummary, current_run_id, finish
from newsflow.settings import Settings
from tasks import spool as spool_mod


@flow(name="load-spool", log_prints=True)
def load_spool_flow(settings: Settings | None = None) -> dict:
    """Merge every batch waiting in the spool into the warehouse (the single writer)."""
    settings = settings or Settings()
    summary = RunSummary(run_id=current_run_id(), flow="load-spool")
    summary.items = len(spool_mod.pending(settings.spool))
    return finish(summary, settings, load=True).as_dict()


def _batch_age_hours(batch_id: str, now: datetime) -> float | None:
    """Batch ids start with their UTC creation stamp (``%Y%m%dT%H%M%S%f``)."""
    try:
        made = datetime.strptime(batch_id.split("-", 1)[0], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    except ValueError:
        return None
    return (now - made).total_seconds() / 3600


def feeds_due_for_reprobe(settings: Settings) -> list[str]:
    """Quarantined feeds whose quarantine has run out: polled again to see if they recovered."""
    from warehouse.db import connect_reader

    if not settings.db.exists():
        return []
    con = connect_reader(settings.db, wait=settings.lock_wait)
    try:
        rows = con.execute(
            "SELECT url FROM feeds WHERE quarantined_until IS NOT NULL "
            "AND quarantined_until <= now() ORDER BY url"
        ).fetchall()
    finally:
        con.close()
    return [str(r[0]) for r in rows]


@flow(name="maintenance", log_prints=True)
def maintenance(
    abandoned_after_hours: float = 24.0,
    waiting_warn_hours: float = 2.0,
    reprobe_feeds: bool = True,
    settings: Settings | None = None,
) -> dict:
    """Spool health (batches waiting for the loader, abandoned partial batches removed) and
    re-probes of feeds whose quarantine ran out, also feeds no schedule polls any more.

    A batch folder without a manifest is a write that died half-way; its task was retried or
    its run failed, so the rows exist elsewhere or will be produced again.
    """
    settings = settings or Settings()
    logger = get_run_logger()
    reprobed: list[str] = feeds_due_for_reprobe(settings) if reprobe_feeds else []
    if reprobed:
        from flows.feeds import ingest_feeds

        logger.info("re-probing %d feeds whose quarantine ran out", len(reprobed))
        ingest_feeds(feeds=reprobed, settings=settings)
    now = datetime.now(UTC)
    waiting = spool_mod.pending(settings.spool)
    ages = [a for a in (_batch_age_hours(b, now) for b in waiting) if a is not None]
    oldest = max(ages, default=0.0)
    if oldest > waiting_warn_hours:
        logger.warning(
            "%d batches wait for the loader, the oldest for %.1f h: is the warehouse locked?",
            len(waiting),
            oldest,
        )
    abandoned = spool_mod.incomplete(settings.spool, older_than=abandoned_after_hours * 3600)
    for batch_id in abandoned:
        spool_mod.remove_batch(settings.spool, batch_id)
    if abandoned:
        logger.warning("removed %d abandoned partial batches", len(abandoned))
    report = {
        "waiting_batches": len(waiting),
        "oldest_waiting_hours": round(oldest, 2),
        "abandoned_removed": len(abandoned),
        "feeds_reprobed": len(reprobed),
        "run_id": current_run_id(),
    }
    create_markdown_artifact(
        key="maintenance",
        markdown="\n".join(
            [
                "# maintenance: spool health",
                "",
                "| measure | value |",
                "|---|---:|",
                f"| batches waiting for the loader | {len(waiting)} |",
                f"| oldest waiting (hours) | {oldest:.1f} |",
                f"| abandoned partial batches removed | {len(abandoned)} |",
                f"| quarantined feeds re-probed | {len(reprobed)} |",
            ]
        )
        + "\n",
        description="spool health",
    )
    return report

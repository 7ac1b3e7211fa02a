"""Flows ``load-spool`` (the loader on its own) and ``maintenance`` (spool health)."""

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
    return finish(summary, settings).as_dict()


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
    settings: Settings | None = None,
) -> dict:
    """Spool health: batches waiting for the loader, and abandoned partial batches removed.

    A batch folder without a manifest is a write that died half-way; its task was retried or
    its run failed, so the rows exist elsewhere or will be produced again.
    """
    settings = settings or Settings()
    logger = get_run_logger()
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
            ]
        )
        + "\n",
        description="spool health",
    )
    return report

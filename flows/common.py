"""Pieces every flow shares: the run id, the final load, and the run summary artifact."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from newsflow.settings import Settings
from warehouse.loader import LoadReport, RunRow, load_spool


@dataclass
class RunSummary:
    """What a flow run did; returned to the caller and published as an artifact."""

    run_id: str
    flow: str
    items: int = 0
    spooled_batches: int = 0
    load: LoadReport = field(default_factory=LoadReport)
    intake_rejects: dict[str, int] = field(default_factory=dict)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def markdown(self) -> str:
        load = self.load
        lines = [
            f"# {self.flow}: run summary",
            "",
            "| measure | count |",
            "|---|---:|",
            f"| items considered | {self.items} |",
            f"| new articles loaded | {load.loaded} |",
            f"| of which duplicates | {load.duplicates} |",
            f"| known articles, text changed | {load.updated} |",
            f"| known articles, unchanged | {load.unchanged} |",
            f"| new sightings | {load.sightings} |",
            f"| rejected | {load.rejects} |",
            f"| batches loaded | {load.batches} |",
        ]
        if load.rejects_by_reason:
            lines += ["", "| reject reason | count |", "|---|---:|"]
            for reason, count in sorted(load.rejects_by_reason.items(), key=lambda kv: -kv[1]):
                lines.append(f"| `{reason}` | {count} |")
        return "\n".join(lines) + "\n"


def current_run_id() -> str:
    run_id = flow_run.get_id()
    return str(run_id) if run_id else f"local-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"


@task(name="load-spool", task_run_name="load-spool")
def load_task(settings: Settings, run: RunRow) -> LoadReport:
    """Merge every spooled batch (this run's and any left by earlier runs)."""
    from prefect.logging import get_run_logger

    logger = get_run_logger()
    warned: list[float] = []

    def on_wait(holder: str, waited: float) -> None:
        if not warned or waited - warned[-1] >= 5:
            warned.append(waited)
            logger.warning(
                "warehouse %s is locked by %s; waiting (%.0fs so far)", settings.db, holder, waited
            )

    return load_spool(
        settings.db,
        settings.spool,
        lock_wait=settings.lock_wait,
        run=run,
        on_wait=on_wait,
        publish=settings.publish,
    )


def finish(summary: RunSummary, settings: Settings) -> RunSummary:
    """Load the spool, record the run, publish the summary artifact."""
    summary.finished_at = datetime.now(UTC)
    run = RunRow(
        summary.run_id,
        summary.flow,
        summary.started_at,
        summary.finished_at,
        "completed",
        summary.items,
    )
    summary.load = load_task(settings, run)
    create_markdown_artifact(
        key=summary.flow.replace("_", "-"),
        markdown=summary.markdown(),
        description=f"{summary.flow} run summary",
    )
    return summary

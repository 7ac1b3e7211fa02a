"""Flow ``ingest-feeds``: poll feeds (conditional GET) -> entries -> pages -> rows -> warehouse.

The steps, and how feed validators travel through the spool: ``flows/steps.py`` (a command
runs them in its own process: flows/inline.py).
"""

from __future__ import annotations

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.task_runners import ThreadPoolTaskRunner

from newsflow.flows import steps
from newsflow.flows.lifecycle import current_run_id, outcome
from newsflow.flows.runners import SettingsTaskRunner
from newsflow.flows.steps import DEFAULT_FEEDS_FILE, resolve_feeds
from newsflow.flows.summary import RunSummary
from newsflow.flows.tasked import PrefectRunner, as_task
from newsflow.settings import Settings
from newsflow.tasks.feeds import FeedSpec

__all__ = ["DEFAULT_FEEDS_FILE", "ingest_feeds", "resolve_feeds"]

poll_feeds_task = as_task(steps.poll_group)
fetch_entries_task = as_task(steps.fetch_entries)


# Fetch tasks in threads (extraction in processes), or on Dask (flows/runners.py).
@flow(name="ingest-feeds", log_prints=True, task_runner=SettingsTaskRunner(ThreadPoolTaskRunner))
def ingest_feeds(
    feeds: list[str] | None = None,
    feeds_file: str | None = None,
    tags: list[str] | None = None,
    settings: Settings | None = None,
    specs: list[FeedSpec] | None = None,
) -> RunSummary | State[RunSummary]:
    """Poll feeds (``feeds``, else those of ``feeds_file`` with any of ``tags``) and ingest
    their new entries. ``specs``: those feeds, read already (a command passes what it read,
    so the feeds file is read once)."""
    settings = settings or Settings()
    summary = RunSummary(run_id=current_run_id(), flow="ingest-feeds")
    runner = PrefectRunner(
        {steps.poll_group: poll_feeds_task, steps.fetch_entries: fetch_entries_task}
    )
    specs = specs if specs is not None else resolve_feeds(feeds, feeds_file, tags)
    return outcome(steps.ingest_feeds(summary, settings, runner, specs=specs))

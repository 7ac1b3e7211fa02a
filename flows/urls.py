"""Flow ``ingest-urls``: article URLs -> fetched, extracted pages -> rows -> spool -> warehouse.

The steps: ``flows/steps.py`` (a command runs them in its own process: flows/inline.py).
"""

from __future__ import annotations

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.task_runners import ThreadPoolTaskRunner

from newsflow.flows import steps
from newsflow.flows.lifecycle import current_run_id, outcome
from newsflow.flows.runners import SettingsTaskRunner
from newsflow.flows.summary import RunSummary
from newsflow.flows.tasked import PrefectRunner, as_task
from newsflow.settings import Settings

fetch_pages_task = as_task(steps.fetch_urls)


# Fetch tasks in threads (extraction in processes), or on Dask (flows/runners.py).
@flow(name="ingest-urls", log_prints=True, task_runner=SettingsTaskRunner(ThreadPoolTaskRunner))
def ingest_urls(
    urls: list[str], settings: Settings | None = None
) -> RunSummary | State[RunSummary]:
    """Fetch and ingest single article pages."""
    settings = settings or Settings()
    summary = RunSummary(run_id=current_run_id(), flow="ingest-urls")
    runner = PrefectRunner({steps.fetch_urls: fetch_pages_task})
    return outcome(steps.ingest_urls(summary, settings, urls, runner))

"""Flow ``ingest-seeds``: seed files -> candidates -> rows -> spool -> warehouse.

The steps: ``flows/steps.py`` (a command runs them in its own process: flows/inline.py).
"""

from __future__ import annotations

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.task_runners import ProcessPoolTaskRunner

from newsflow.flows import steps
from newsflow.flows.lifecycle import current_run_id, outcome
from newsflow.flows.runners import SettingsTaskRunner
from newsflow.flows.summary import RunSummary
from newsflow.flows.tasked import PrefectRunner, as_task
from newsflow.settings import Settings

process_seed_files = as_task(steps.process_seed_files)


# Batches in a process pool, or on Dask with NEWSFLOW_TASK_RUNNER=dask (flows/runners.py).
@flow(name="ingest-seeds", log_prints=True, task_runner=SettingsTaskRunner(ProcessPoolTaskRunner))
def ingest_seeds(
    paths: list[str] | None = None, settings: Settings | None = None
) -> RunSummary | State[RunSummary]:
    """Ingest seed files (article files and URL lists) or folders of them (default ``seeds/``)."""
    settings = settings or Settings()
    summary = RunSummary(run_id=current_run_id(), flow="ingest-seeds")
    runner = PrefectRunner({steps.process_seed_files: process_seed_files})
    return outcome(steps.ingest_seeds(summary, settings, steps.seed_files(paths), runner))

"""Where a flow's batch tasks run: local processes, or a Dask cluster (an option).

The ingest flows declare ``task_runner=SettingsTaskRunner(<their local runner>)``. Prefect's
flow engine asks a flow's runner for a fresh copy (``duplicate``) when a run starts; this one
answers with the runner ``NEWSFLOW_TASK_RUNNER`` chooses, so the choice holds for command-line
runs and for deployments run by work-pool workers alike:

- ``process`` (default): the flow's own local runner (a process pool for ingest-seeds, threads
  for the fetching flows, whose tasks share the run's extraction pool of processes);
- ``dask``: prefect-dask's ``DaskTaskRunner`` (the optional ``dask`` extra), on the cluster at
  ``NEWSFLOW_DASK_ADDRESS``, else on a ``LocalCluster`` started for the run.

trafilatura's lxml is not safe from two threads at once, so Dask workers run one task at a
time (one thread each) in their own processes; a fetch task on a worker extracts in a process
pool of its own, as it does anywhere else, so workers must be allowed to start processes
(not daemonic: set for the local cluster here, and in deploy/README.md for a remote one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner

from newsflow.settings import Settings

DASK_EXTRA_HINT = "NEWSFLOW_TASK_RUNNER=dask needs the dask extra: pip install -e '.[dask]'"


def task_runner(settings: Settings, local: Callable[[], TaskRunner[Any]]) -> TaskRunner[Any]:
    """The task runner ``settings`` choose; ``local`` makes the flow's default one."""
    if settings.task_runner == "dask":
        return dask_task_runner(settings)
    return local()


def dask_task_runner(settings: Settings) -> TaskRunner[Any]:
    try:  # imported here: the dask extra is optional
        from prefect_dask.task_runners import DaskTaskRunner
    except ImportError as exc:
        raise RuntimeError(DASK_EXTRA_HINT) from exc
    if settings.dask_address:
        runner: TaskRunner[Any] = DaskTaskRunner(address=settings.dask_address)
        return runner
    return DaskTaskRunner(
        cluster_class=local_cluster,
        cluster_kwargs={
            "n_workers": settings.parallelism,
            "threads_per_worker": 1,  # one task at a time per worker: lxml in one thread
            "processes": True,
            "dashboard_address": ":0",  # any free port: runs side by side never clash
        },
    )


def local_cluster(**kwargs: Any) -> Any:
    """A ``distributed.LocalCluster`` whose worker processes may start processes of their
    own (the extraction pool of a fetch task); Dask makes them daemonic by default."""
    import dask  # the optional dask extra, imported only when it is used
    from distributed import LocalCluster

    dask.config.set({"distributed.worker.daemon": False})
    return LocalCluster(**kwargs)  # type: ignore[no-untyped-call, unused-ignore]


class SettingsTaskRunner(TaskRunner[PrefectFuture[Any]]):
    """Stands for the task runner the settings choose when a run starts (``duplicate``)."""

    def __init__(self, local: Callable[[], TaskRunner[Any]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call, unused-ignore]
        self.local = local

    def duplicate(self) -> Any:
        # The settings of the process starting the run: the environment and its .env file,
        # as the flow's own ``settings or Settings()``.
        return task_runner(Settings(), self.local)

    def submit(
        self,
        task: Any,
        parameters: dict[str, Any],
        wait_for: Iterable[PrefectFuture[Any]] | None = None,
        dependencies: dict[str, Any] | None = None,
    ) -> PrefectFuture[Any]:
        raise RuntimeError("tasks are submitted to the runner a flow run starts (duplicate)")

"""prefect-dask's task runner as newsflow uses it (the optional ``dask`` extra).

Imported only when ``NEWSFLOW_TASK_RUNNER=dask`` (flows/runners.py). A fetch task on a Dask
worker extracts pages in a process pool of its own (tasks/fetch.py), which would outlive a
worker that Dask ends after a few seconds of shutdown: a worker plugin ends that pool when
the worker closes.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin
from prefect_dask import DaskTaskRunner


class ExtractionPoolCleanup(WorkerPlugin):
    """Ends the worker's extraction pool (if it has one) when the worker closes."""

    name = "newsflow-extraction-pool"
    idempotent = True

    def teardown(self, worker: Any) -> None:
        from tasks.fetch import _reset_pool

        _reset_pool(kill=True)  # the worker is closing: no extraction is waited for


class NewsflowDaskTaskRunner(DaskTaskRunner):
    """``DaskTaskRunner`` that installs ``ExtractionPoolCleanup`` on the cluster's workers."""

    def __enter__(self) -> NewsflowDaskTaskRunner:
        super().__enter__()
        self.client.register_plugin(ExtractionPoolCleanup())
        return self

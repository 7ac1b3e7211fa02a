"""Getting a run's spooled batches into the warehouse: while the run goes on (a background
loader in the flow's process) and at its end (the ``load-spool`` task, or ``load_step`` in a
run in the command's process, which never imports Prefect: ``flows/inline.py``)."""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from newsflow.flows.summary import RunSummary
from newsflow.settings import Settings
from newsflow.tasks import spool as spool_mod
from newsflow.warehouse.loader import LoadReport, RunRow, load_spool
from newsflow.warehouse.queries import BatchWriter

log = logging.getLogger(__name__)
# The final load's step name: the Prefect task of a flow run, the in-process run's log
LOAD_SPOOL = "load-spool"


class BackgroundLoader:
    """Loads a run's spooled batches one by one, in a thread of the flow's process, while its
    workers produce the next ones: the single writer keeps pace with the run instead of
    merging everything at the end (and holds one batch in memory, not the run's).

    The writer connection (``warehouse.queries.BatchWriter``) stays open while batches keep
    coming and closes whenever the loader has caught up, so readers get their turn between
    bursts. Off where ``settings.load_in_flow`` is false (work-pool workers leave loading to
    the loader deployment). A failed load (a held lock past ``lock_wait``, say) stops the
    background loads; the batches stay spooled and ``finish`` loads them, or says why not.
    """

    def __init__(self, summary: RunSummary, settings: Settings) -> None:
        self._summary, self._settings = summary, settings
        self._pool = ThreadPoolExecutor(1, "loader") if settings.load_in_flow else None
        self._writer = BatchWriter(
            settings.db,
            settings.spool,
            settings.lock_wait,
            lock_reporter(settings) if self._pool is not None else None,
            lake_data=settings.lake_data,
        )
        self._futures: list[Future[LoadReport]] = []
        self._queued = 0
        self._lock = threading.Lock()
        self._failed = False
        self._submitted: set[str] = set()
        self._stop = threading.Event()
        self._follower: threading.Thread | None = None

    def submit(self, batch_id: str) -> None:
        if self._pool is not None:
            with self._lock:
                if batch_id in self._submitted:
                    return
                self._submitted.add(batch_id)
                self._queued += 1
            self._futures.append(self._pool.submit(self._load, batch_id))

    def follow(self, interval: float = 1.0) -> None:
        """Also load this run's batches as they appear in the spool, not only those
        ``submit`` names: fetch tasks spool their pages in parts while they fetch
        (``fetch_and_process(spool=...)``), wherever they run. Stopped by ``wait``."""
        if self._pool is None or self._follower is not None:
            return
        self._follower = threading.Thread(
            target=self._follow, args=(interval,), name="spool-follower", daemon=True
        )
        self._follower.start()

    def _follow(self, interval: float) -> None:
        spool, run_id = self._settings.spool, self._summary.run_id
        seen: set[str] = set()
        while not self._stop.wait(interval) and not self._failed:
            try:
                for batch_id in spool_mod.pending(spool):
                    if batch_id not in seen:
                        seen.add(batch_id)  # other runs' batches are the final load's
                        if spool_mod.read_manifest(spool, batch_id).get("run_id") == run_id:
                            self.submit(batch_id)
            except OSError as error:  # a batch removed meanwhile, say: look again later
                log.debug("spool follower: %s", error)

    def _load(self, batch_id: str) -> LoadReport:
        summary = self._summary
        with self._lock:
            self._queued -= 1
            last = self._queued == 0
        if self._failed:
            return LoadReport()
        run = RunRow(
            summary.run_id, summary.flow, summary.started_at, None, "running", summary.items
        )
        try:
            return self._writer.load(batch_id, run, last=last)
        except Exception as error:  # the final load reports it
            self._failed = True
            log.warning("background load of batch %s stopped: %s", batch_id, error)
            return LoadReport()

    def wait(self) -> LoadReport:
        """Stop following the spool; block until every submitted load is done; their
        reports added up."""
        self._stop.set()
        if self._follower is not None:
            self._follower.join()
        report = LoadReport()
        for future in self._futures:
            report.add(future.result())
        self._futures.clear()
        if self._pool is not None:
            self._pool.shutdown()
        return report


def load_task(settings: Settings, run: RunRow, loaded_before: int = 0) -> LoadReport:
    """``load_step`` as the Prefect task ``load-spool`` of the flow run."""
    result: LoadReport = _load_task()(settings, run, loaded_before)
    return result


@functools.cache
def _load_task() -> Any:
    from prefect import task

    return task(name=LOAD_SPOOL, task_run_name=LOAD_SPOOL)(load_step)


def load_step(settings: Settings, run: RunRow, loaded_before: int = 0) -> LoadReport:
    """Merge every spooled batch (this run's and any left by earlier runs)."""
    return load_spool(
        settings.db,
        settings.spool,
        lock_wait=settings.lock_wait,
        run=run,
        on_wait=lock_reporter(settings),
        publish=settings.publish,
        loaded_before=loaded_before,
        lake_data=settings.lake_data,
    )


def lock_reporter(settings: Settings) -> Callable[[str, float], None]:
    """Says in the run's log, every 5 s, who holds the warehouse the loader waits for."""
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = log
    if "prefect" in sys.modules:  # a run in process (no Prefect) logs to the module's logger
        from prefect.exceptions import MissingContextError
        from prefect.logging import get_run_logger

        # outside a flow run (benchmarks, scripts): the module's logger
        with contextlib.suppress(MissingContextError):
            logger = get_run_logger()
    warned: list[float] = []

    def on_wait(holder: str, waited: float) -> None:
        if not warned or waited - warned[-1] >= 5:
            warned.append(waited)
            logger.warning(
                "warehouse %s is locked by %s; waiting (%.0fs so far)", settings.db, holder, waited
            )

    return on_wait

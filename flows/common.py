"""Pieces every flow shares: the run id, the final load, and the run summary artifact."""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import pyarrow as pa

from flows import observe
from flows.report import summary_extras
from newsflow import cancel
from newsflow.settings import Settings
from tasks import spool as spool_mod
from tasks.hosttimes import HostStat, HostTimes, merge
from tasks.records import Batch
from tasks.spool import write_batch
from warehouse import runs as run_ledger
from warehouse.db import connect_writer
from warehouse.loader import LoadReport, RunRow, load_batches, load_spool

if TYPE_CHECKING:
    from prefect.futures import PrefectFuture

# Prefect is imported only where a Prefect flow runs (small work runs in process without it:
# newsflow/inline.py), so this module imports it inside the functions that need it.
T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a flow run did; returned to the caller and published as an artifact."""

    run_id: str
    flow: str
    items: int = 0
    spooled_batches: int = 0
    load: LoadReport = field(default_factory=LoadReport)
    intake_rejects: dict[str, int] = field(default_factory=dict)
    # Requests and seconds per host, filled by flows that fetch ("slowest hosts").
    hosts: HostTimes = field(default_factory=dict)
    # One dict per feed polled: url, name, status, failures, state (ok, failing,
    # quarantined, recovered), reason; quarantined/recovered also become Prefect events.
    feed_health: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    # Markdown lines a flow puts at the top of its artifact (the backfill: what was asked).
    sections: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def record_host(self, host: str, seconds: float) -> None:
        self.hosts.setdefault(host, HostStat()).add(seconds)

    def add_hosts(self, times: HostTimes) -> None:
        """A fetch batch's request times per host (``Batch.host_times``)."""
        merge(self.hosts, times)

    def markdown(self) -> str:
        load = self.load
        lines = [
            f"# {self.flow}: run summary",
            "",
            *self.sections,
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
        lines += summary_extras(self)
        return "\n".join(lines) + "\n"


def bounded_map(
    task_fn: Any, chunks: list[T], window: int, **kwargs: Any
) -> Iterator[tuple[T, Any]]:
    """Submit ``task_fn(chunk, **kwargs)`` for every chunk, at most ``window`` in flight, and
    yield ``(chunk, result)`` in order: memory stays flat however many chunks there are."""
    pending: deque[tuple[T, PrefectFuture[Any]]] = deque()
    for chunk in chunks:
        if cancel.requested():  # the run is stopping: what is submitted finishes
            break
        if len(pending) >= window:
            done_chunk, future = pending.popleft()
            yield done_chunk, future.result()
        with cancel.blocked():  # a worker started here boots with Ctrl-C held back
            future = task_fn.submit(chunk, **kwargs)
        pending.append((chunk, future))
    while pending:
        done_chunk, future = pending.popleft()
        yield done_chunk, future.result()


# Measured on 10,000 seed articles: a writer connection kept open for the whole run grew
# the process by ~250 MB; reopened every 4 batches (~0.2 s each time) it stays flat.
_BATCHES_PER_CONNECTION = 4


class BackgroundLoader:
    """Loads a run's spooled batches one by one, in a thread of the flow's process, while its
    workers produce the next ones: the single writer keeps pace with the run instead of
    merging everything at the end (and holds one batch in memory, not the run's).

    The writer connection stays open while batches keep coming (for at most
    ``_BATCHES_PER_CONNECTION``: DuckDB's memory grows with a connection's writes) and
    closes whenever the loader has caught up, so readers get their turn between bursts. Off where
    ``settings.load_in_flow`` is false (work-pool workers leave loading to the loader
    deployment). A failed load (a held lock past ``lock_wait``, say) stops the background
    loads; the batches stay spooled and ``finish`` loads them, or says why not.
    """

    def __init__(self, summary: RunSummary, settings: Settings) -> None:
        self._summary, self._settings = summary, settings
        self._pool = ThreadPoolExecutor(1, "loader") if settings.load_in_flow else None
        self._on_wait = _lock_reporter(settings) if self._pool is not None else None
        self._futures: list[Future[LoadReport]] = []
        self._queued = 0
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._con_loads = 0
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
        summary, settings = self._summary, self._settings
        with self._lock:
            self._queued -= 1
            last = self._queued == 0
        if self._failed:
            return LoadReport()
        run = RunRow(
            summary.run_id,
            summary.flow,
            summary.started_at,
            None,
            "running",
            summary.items,
        )
        try:
            if self._con is None:
                self._con = connect_writer(settings.db, settings.lock_wait, self._on_wait)
                self._con_loads = 0
            self._con_loads += 1
            last = last or self._con_loads >= _BATCHES_PER_CONNECTION
            # one thread: the run's workers have the cores (``load_batches``)
            return load_batches(self._con, settings.spool, [batch_id], run=run, threads=1)
        except Exception as error:  # the final load reports it
            self._failed = True
            last = True
            log.warning("background load of batch %s stopped: %s", batch_id, error)
            return LoadReport()
        finally:
            if last and self._con is not None:
                self._con.close()
                self._con = None

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


@contextmanager
def recorded(summary: RunSummary, settings: Settings) -> Iterator[None]:
    """The run's row from start to end: ``running`` with its process when it starts (runs
    whose process is gone are marked ``abandoned`` then), ``failed`` with its error if the
    flow raises. (``finish`` records ``completed`` or ``cancelled``.) Work-pool workers,
    which never write the warehouse, leave it to their ``finish``."""
    cancel.reclaim()  # a command's Ctrl-C/SIGTERM handling, over the flow engine's
    if settings.load_in_flow:
        _start_row(summary, settings)
    try:
        yield
    except Exception as error:
        if settings.load_in_flow:
            _record_failure(summary, settings, error)
        raise


def _start_row(summary: RunSummary, settings: Settings) -> None:
    """The run's ``running`` row, if the warehouse is free within a moment; if another
    process holds it (an analyst's session, a long load), the run goes on and its row comes
    with its first load, as its batches wait in the spool meanwhile."""
    from warehouse.db import WarehouseLocked

    try:
        con = connect_writer(settings.db, min(settings.lock_wait, START_WAIT))
    except WarehouseLocked as error:
        log.info("run %s starts without its row for now: %s", summary.run_id, error)
        return
    try:
        found = run_ledger.start_run(con, summary.run_id, summary.flow, summary.started_at)
    finally:
        con.close()
    if found:
        log.warning("%d earlier runs whose process is gone were marked abandoned", found)


START_WAIT = 2.0  # seconds a run waits at its start for the warehouse to write its row


def _record_failure(summary: RunSummary, settings: Settings, error: Exception) -> None:
    """Mark the run ``failed`` with its error, and its counts so far. Best effort: if the
    warehouse cannot be written (the failure may be that), the next start finds the run's
    process gone and marks it ``abandoned``."""
    message = f"{type(error).__name__}: {error}".splitlines()[0][:500]
    try:
        con = connect_writer(settings.db, min(settings.lock_wait, 30.0))
        try:
            run_ledger.record(
                con,
                summary.run_id,
                summary.flow,
                summary.started_at,
                datetime.now(UTC),
                "failed",
                summary.items,
                LoadReport(),
                error=message,
            )
        finally:
            con.close()
    except Exception as again:
        log.warning("could not record run %s as failed: %s", summary.run_id, again)


def outcome(result: dict[str, Any]) -> Any:
    """What a flow returns: its summary, or, when it was asked to stop, a Cancelled state
    carrying the summary (so the Prefect run ends Cancelled, not Completed)."""
    if not cancel.requested():
        return result
    from prefect.states import Cancelled

    loaded = result["load"]["loaded"]
    return Cancelled(
        message=f"cancelled (Ctrl-C or SIGTERM) after loading {loaded} new articles; "
        "the rest is fetched by a later run",
        data=result,
    )


def current_run_id() -> str:
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    return str(run_id) if run_id else f"local-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"


def load_task(settings: Settings, run: RunRow, loaded_before: int = 0) -> LoadReport:
    """``load_step`` as the Prefect task ``load-spool`` of the flow run."""
    result: LoadReport = _load_task()(settings, run, loaded_before)
    return result


@functools.cache
def _load_task() -> Any:
    from prefect import task

    return task(name="load-spool", task_run_name="load-spool")(load_step)


def load_step(settings: Settings, run: RunRow, loaded_before: int = 0) -> LoadReport:
    """Merge every spooled batch (this run's and any left by earlier runs)."""
    return load_spool(
        settings.db,
        settings.spool,
        lock_wait=settings.lock_wait,
        run=run,
        on_wait=_lock_reporter(settings),
        publish=settings.publish,
        loaded_before=loaded_before,
    )


def _lock_reporter(settings: Settings) -> Callable[[str, float], None]:
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


def run_table(run: RunRow) -> pa.Table:
    """A run's row as a spool table, for the loader to record."""
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "run_id": pa.array([run.run_id]),
            "flow": pa.array([run.flow]),
            "started_at": pa.array([run.started_at], ts),
            "finished_at": pa.array([run.finished_at], ts),
            "status": pa.array([run.status]),
            "items": pa.array([run.items], pa.int64()),
        }
    )


def finish(
    summary: RunSummary,
    settings: Settings,
    *,
    load: bool | None = None,
    loader: BackgroundLoader | None = None,
) -> RunSummary:
    """Load the spool (unless ``load`` or ``settings.load_in_flow`` says a loader elsewhere
    does), record the run, publish the summary artifact. ``loader``: the run's background
    loader, whose loads are awaited and counted first."""
    close(summary, settings, load=load, loader=loader, load_fn=load_task)
    observe.publish(summary, settings)
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(
        key=summary.flow.replace("_", "-"),
        markdown=summary.markdown(),
        description=f"{summary.flow} run summary",
    )
    return summary


def close(
    summary: RunSummary,
    settings: Settings,
    *,
    load: bool | None = None,
    loader: BackgroundLoader | None = None,
    load_fn: Callable[[Settings, RunRow, int], LoadReport] = load_step,
) -> RunSummary:
    """``finish`` without Prefect: await the background loads, load the spool with
    ``load_fn`` (``load_task`` in a flow run) and record the run's row; no events, no
    artifact (a run in process sends those through the REST API: newsflow/inline.py)."""
    loaded_before = loader.wait() if loader is not None else LoadReport()
    summary.finished_at = datetime.now(UTC)
    stopped = cancel.requested()
    run = RunRow(
        summary.run_id,
        summary.flow,
        summary.started_at,
        summary.finished_at,
        "cancelled" if stopped else "completed",
        summary.items,
    )
    if settings.load_in_flow if load is None else load:
        # what the run spooled is loaded (a cancelled run skips publishing: the next load
        # publishes); the counts are the run's row's, whichever process merged its batches
        loading = settings.model_copy(update={"publish": False}) if stopped else settings
        summary.load = load_fn(loading, run, loaded_before.batches)
        summary.load.skipped_batches += loaded_before.skipped_batches
        summary.load.revised += loaded_before.revised
    else:  # a work-pool worker: the run's row travels through the spool like every write
        write_batch(Batch(summary.run_id), settings.spool, extra={"runs": run_table(run)})
        summary.spooled_batches += 1
    return summary

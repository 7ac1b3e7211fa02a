"""Command-line ingest work in the command's process: no flow engine, workers only when the
work repays them.

Importing Prefect and running its flow engine costs seconds (import, the flow run's creation,
the engine's start and end), more than a one-URL run needs, and a sixth of a run over a
couple of hundred pages. So a command runs the flow's own step sequence (``flows/steps.py``)
with the in-process runner: the same fetch, extraction, processing and spool batches, loaded
by the same loader (in the background while the run goes on, as in the flow), hence the same
warehouse rows and rejects as the Prefect flow. The run still has its ``runs`` row, and is
recorded in the Prefect server as a flow run through the REST API
(``flows/prefect_rest.py``), with its state and summary artifact, so the UI shows every run.

Workers are started only for work that repays them, as the flow would use them:

- more than ``INLINE_PAGES`` pages to fetch: the extraction pool (booted before the run for
  URLs, right after the poll for feeds), and fetch batches side by side in threads;
- more than one batch of seed files: the batches in a pool of worker processes, a bounded
  window at a time, each spooled batch loaded as it comes.

With the local task runner (``NEWSFLOW_TASK_RUNNER=process``, the default) every
``ingest-urls``, ``ingest-feeds`` and ``ingest-seeds`` command runs so, at any size. With
``NEWSFLOW_TASK_RUNNER=dask`` only small work does (at most ``INLINE_PAGES`` URLs; at most
``INLINE_FEEDS`` feeds whose poll brings at most ``INLINE_PAGES`` new pages; at most
``INLINE_FILES`` seed files listing at most ``INLINE_PAGES`` URLs): the rest runs as the
Prefect flow on the Dask cluster. ``NEWSFLOW_INLINE=never`` runs every command as its Prefect
flow; ``always`` runs every command in process whatever the task runner. Deployments (serve,
schedules, backfills from the UI) always run the Prefect flows.

The command line (``newsflow/cli/common.py`` ``run_inline``) shows the progress, handles
Ctrl-C and SIGTERM and says what failed; a run here records its end and re-raises.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from newsflow import cancel
from newsflow.settings import Settings

if TYPE_CHECKING:
    from newsflow.flows.prefect_rest import RestRecorder
    from newsflow.flows.steps import InlineRunner
    from newsflow.flows.summary import RunSummary
    from newsflow.tasks.feeds import FeedSpec

INLINE_FILES = 8
INLINE_FEEDS = 20
# run status -> the state type of its flow run
_STATES = {"completed": "COMPLETED", "cancelled": "CANCELLED", "failed": "FAILED"}


def _pages() -> int:
    from newsflow.tasks.fetch import INLINE_PAGES

    return INLINE_PAGES


def in_process(settings: Settings, big: bool) -> bool:
    """Whether a command's ingest work runs in its process (``big``: more than small work);
    else it runs as the Prefect flow."""
    if settings.inline != "auto":
        return settings.inline == "always"
    return not big or settings.task_runner == "process"


def _workers(settings: Settings, big: bool) -> int:
    """Worker processes for the run's batches (0: small work, one batch after the other)."""
    return settings.parallelism if big else 0


def ingest_urls(settings: Settings, urls: list[str]) -> RunSummary | None:
    """The run's summary, or None when the work runs as the Prefect flow."""
    from newsflow.flows import steps

    big = len(steps.unique_urls(urls)) > _pages()
    if not in_process(settings, big):
        return None
    with extraction(settings) if big else _nothing():  # many pages: the workers boot now
        return _run(
            settings,
            "ingest-urls",
            {"urls": urls},
            lambda summary, runner: steps.ingest_urls(summary, settings, urls, runner),
            workers=_workers(settings, big),
        )


def ingest_seeds(settings: Settings, paths: list[str]) -> RunSummary | None:
    """The run's summary, or None when the work runs as the Prefect flow. With only small
    work here, the files are read once, as the run's first step: what they list decides, and
    the run goes on with what was read."""
    if not in_process(settings, big=False):
        return None
    from newsflow.flows import steps

    files = steps.seed_files(paths)
    big = len(files) > settings.batch_size  # more than one batch: in worker processes
    any_size = in_process(settings, big=True)
    if not any_size and len(files) > INLINE_FILES:
        return None
    read: list[steps.SeedRead] = []

    def small(summary: RunSummary, runner: steps.InlineRunner) -> bool:
        if any_size:
            return True
        read.append(steps.read_seeds([str(f) for f in files], summary.run_id, settings))
        return sum(1 for c in read[0][0] if c.text is None) <= _pages()  # URLs to fetch

    def body(summary: RunSummary, runner: steps.InlineRunner) -> RunSummary:
        return steps.ingest_seeds(
            summary, settings, files, runner, read=read[0] if read and not big else None
        )

    return _run(
        settings,
        "ingest-seeds",
        {"paths": paths},
        body,
        small=small,
        workers=_workers(settings, big),
    )


def ingest_feeds(
    settings: Settings, specs: list[FeedSpec], parameters: dict[str, Any]
) -> RunSummary | None:
    """Poll ``specs`` (the feeds the command read; ``parameters``: how it named them) first;
    the run's summary, or None when the work runs as the Prefect flow (which polls again)."""
    if not in_process(settings, big=False):
        return None
    from newsflow.flows import steps

    any_size = in_process(settings, big=True)
    if len(specs) > INLINE_FEEDS and not any_size:
        return None
    polled: list[steps.FeedPolls] = []

    def small(summary: RunSummary, runner: steps.InlineRunner) -> bool:
        # more than one group of feeds: polled side by side, as the flow's tasks are
        runner.workers = _workers(settings, len(specs) > settings.batch_size)
        # the poll's own steps (poll-feeds) are timed; the look itself is not a step
        polled.append(steps.poll(summary, settings, specs, runner))
        big = polled[0].new > _pages()
        runner.workers = _workers(settings, big)
        return any_size or not big

    def body(summary: RunSummary, runner: steps.InlineRunner) -> RunSummary:
        # many new pages: the extraction workers boot now, while the first pages are fetched
        with extraction(settings) if runner.workers else _nothing():
            return steps.ingest_feeds(summary, settings, runner, polled=polled[0])

    return _run(settings, "ingest-feeds", parameters, body, small=small)


@contextmanager
def extraction(settings: Settings) -> Iterator[None]:
    """For fetching work too big to extract in this process: the extraction pool, its
    workers started now (they boot while Prefect is imported and the run starts) and shared
    with the run in this context (``flows.steps.run_pool``), ended after it. A flow's fetch
    tasks run in this process's threads, so they use it too, unless the task runner is Dask."""
    if settings.task_runner != "process":
        yield
        return
    from newsflow.tasks.extraction_pool import ExtractionPool

    with ExtractionPool(settings) as pool, pool.shared():
        pool.boot()
        yield


@contextmanager
def _nothing() -> Iterator[None]:
    yield


class _Server:
    """Where the run is recorded: the configured API, else the local server (started in a
    thread while the run works, if it is not running), else nowhere."""

    def __init__(self, settings: Settings) -> None:
        import threading

        from newsflow.flows import runtime

        self.api_url: str | None = runtime.configured_api()
        self.problem: str | None = None
        self._thread: threading.Thread | None = None
        if self.api_url:
            return
        if settings.prefect_server == "temporary":
            self.problem = "NEWSFLOW_PREFECT_SERVER=temporary keeps no runs"
            return
        home = runtime.prefect_home(settings.db)
        server, _ = runtime.status(home)
        if server is not None:
            self.api_url = server.api_url
            return

        def start() -> None:
            try:
                self.api_url = runtime.start(home, settings.prefect_port).api_url
            except Exception as error:  # the run goes on; it says so at its end
                self.problem = f"the local Prefect server did not start: {error}"

        self._thread = threading.Thread(target=start, name="prefect-server", daemon=True)
        self._thread.start()

    @property
    def ready(self) -> bool:
        return self._thread is None

    def wait(self) -> str | None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self.api_url


def _run(
    settings: Settings,
    flow: str,
    parameters: dict[str, Any],
    body: Callable[[RunSummary, InlineRunner], RunSummary],
    *,
    small: Callable[[RunSummary, InlineRunner], bool] | None = None,
    workers: int = 0,
) -> RunSummary | None:
    """Run ``body`` in process as the run of ``flow``, recorded in Prefect; its summary
    (stopped by Ctrl-C/SIGTERM: what it did, its run ``Cancelled``). ``small``: a look at
    the work first (a feed poll) that may send it to the Prefect flow instead (None), and
    may give the run workers. ``workers``: processes for its batches (0: none). A failure is
    recorded as the run's, then raised."""
    from newsflow.flows.prefect_rest import RestRecorder
    from newsflow.flows.steps import InlineRunner
    from newsflow.flows.summary import RunSummary

    server = _Server(settings)
    recorder = RestRecorder(server.api_url if server.ready else None, flow, parameters)
    run_id = recorder.begin() or str(uuid.uuid4())
    summary = RunSummary(run_id=run_id, flow=flow)
    runner = InlineRunner(workers)
    try:
        if small is not None and not small(summary, runner):
            recorder.discard()  # the Prefect flow's run is the one the UI shows
            return None
        result = body(summary, runner)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        _record(server, recorder, summary, settings, runner, "failed", message)
        raise
    finally:
        runner.close()
    state = "cancelled" if cancel.requested() else "completed"
    _record(server, recorder, summary, settings, runner, state, "")
    return result


def _record(
    server: _Server,
    recorder: RestRecorder,
    summary: RunSummary,
    settings: Settings,
    runner: InlineRunner,
    state: str,
    message: str,
) -> None:
    """The run's events, artifact and end state in Prefect; one line if that failed."""
    from newsflow.flows import observe
    from newsflow.flows.prefect_rest import STARTED_TIMEOUT

    if recorder.flow_run_id is None and not server.ready:  # the server is (was) starting
        recorder.api_url = server.wait()
        if recorder.api_url:
            recorder.problem = None
            recorder.timeout = STARTED_TIMEOUT
            recorder.parameters = {**recorder.parameters, "run_id": summary.run_id}
            recorder.begin()
    load = summary.load
    if state != "failed":
        observe.publish(summary, settings, emit=recorder.emit)
        message = (
            f"{state} in the command's process: {summary.items} items, {load.loaded} new "
            f"articles, {load.rejects} rejected (run {summary.run_id})"
        )
    recorder.log(
        "ran in the command's process; steps: "
        + ", ".join(f"{name} {seconds:.2f}s" for name, seconds in runner.seconds.items())
    )
    recorder.end(_STATES[state], message, summary.markdown(), key=summary.flow.replace("_", "-"))
    problem = server.problem or recorder.problem
    if problem:  # a note, not an error: the run itself is in the warehouse
        print(
            f"note: run {summary.run_id} is in the warehouse but not in Prefect ({problem})",
            file=sys.stderr,
            flush=True,
        )

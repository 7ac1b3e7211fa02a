"""Extraction in worker processes: a pool that its owner starts and closes.

Extraction runs in spawned processes, never threads: lxml under trafilatura is not safe from
two threads. A job is a picklable ``job(html, url)`` that returns its value or a ``Failed``
(errors are returned, not raised, so their reason survives pickling). A worker that dies (a
segfault in lxml) is replaced and the page tried once more (``extract_crash`` the second
time); one that hangs past the timeout is ended (``extract_timeout``) and the pool replaced.

The owner decides the pool's life: ``with ExtractionPool(settings) as pool:`` around the
work, passing ``pool`` down (``tasks.fetch.fetch_and_process(pool=...)``), or sharing it
with everything run in its context (``with pool.shared():``; a flow's task threads copy
the context they were submitted from). Work in another process (a process or Dask task
runner) brings its own. Workers start on first use, so a pool only ever given small work
(``inline``) never starts a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from newsflow import cancel
from newsflow.settings import Settings
from newsflow.tasks.errors import BadInput, NewsflowError, item_error
from newsflow.tasks.extract import Extracted, extract

R = TypeVar("R")
EXTRACT_TIMEOUT = 60.0  # seconds one page may take in extraction before its worker is ended
# lxml is one per process, whichever pool asks: work run in this process takes turns.
_in_process = threading.Lock()
# The pool an owner shares with the work in its context (``ExtractionPool.shared``).
_shared: ContextVar[ExtractionPool | None] = ContextVar("extraction_pool", default=None)


@dataclass(frozen=True, slots=True)
class Failed:
    """What a job returns when its page cannot be used: the reject's reason and detail."""

    reason: str
    detail: str

    def error(self, item: str) -> BadInput:
        """The error that rejects ``item`` for this failure."""
        return BadInput(item, self.detail, reason=self.reason)


Job = Callable[[str, str], "R | Failed"]


def extract_job(html: str, url: str) -> Extracted | Failed:
    """Runs in a worker: what ``extract`` finds in the page, or why it could not."""
    try:
        return extract(html, url)
    except NewsflowError as error:
        return Failed(error.reason, error.detail)
    except Exception as exc:  # a bug in extraction must not lose the item
        found = item_error(exc, url)
        reason = "extract_error" if found.reason == "process_error" else found.reason
        return Failed(reason, found.detail)


def lower_priority() -> None:
    """Extraction is throughput work: let the I/O loop that keeps requests going run first."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(5)


def _start_worker() -> None:
    """Pool initializer: lower priority, and pay once, when the pool starts, the set-up the
    first pages would otherwise pay in the middle of a run (imports, justext's stop lists
    for every language, ~0.9 s; the language model; the public-suffix list). Ctrl-C is the
    parent's to handle, and the worker ends with its parent (``newsflow.cancel``)."""
    cancel.in_worker(stoppable=False)
    lower_priority()
    try:
        from trafilatura.external import jt_stoplist_init

        from newsflow.tasks.enrich import _extractor, _lang_model

        jt_stoplist_init()
        _lang_model()
        _extractor()
    except Exception:  # only a head start: the first page loads whatever failed here
        return


def _in_this_process(job: Job[R], html: str, url: str) -> R | Failed:
    with _in_process:
        return job(html, url)


def _end(executor: ProcessPoolExecutor, *, kill: bool, join: float) -> None:
    """Shut ``executor`` down; ``kill`` ends its workers at once (one of them hangs). With
    ``join``, wait up to that many seconds for the executor's own thread to reap its
    workers, then kill any still alive. Joining the workers from here instead would race
    that thread: a child reaped by one thread can look alive to the other for good."""
    processes = list(getattr(executor, "_processes", {}).values())
    reaper = getattr(executor, "_executor_manager_thread", None)
    if kill:
        for process in processes:
            with contextlib.suppress(Exception):
                process.kill()
    executor.shutdown(wait=False, cancel_futures=True)
    if not join:
        return
    if reaper is not None:
        reaper.join(timeout=join)
    for process in processes:
        if process.exitcode is None:
            with contextlib.suppress(Exception):
                process.kill()
            process.join(timeout=join)


class ExtractionPool:
    """Worker processes for extraction: started on first use, replaced when one crashes or
    hangs, ended by ``close`` (or the end of a ``with`` block)."""

    def __init__(self, settings: Settings) -> None:
        self.workers = settings.workers or os.cpu_count() or 1
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> ExtractionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def shared(self) -> Iterator[ExtractionPool]:
        """Within the block, this is the pool of work in this context given none
        (``shared_pool``), and of the Prefect task threads submitted from it."""
        token = _shared.set(self)
        try:
            yield self
        finally:
            _shared.reset(token)

    @property
    def started(self) -> bool:
        return self._executor is not None

    @property
    def closed(self) -> bool:
        return self._closed

    def start(self) -> ProcessPoolExecutor:
        """The running executor, made now if there is none (first use, or after a crash)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the extraction pool is closed")
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                )
            return self._executor

    def boot(self) -> None:
        """Start the workers now, without waiting for them: their start-up (seconds) then
        overlaps whatever the owner does before its first page (importing Prefect, starting
        a flow run). The executor spawns a worker per job while none is idle."""
        executor = self.start()
        with cancel.blocked():  # the workers boot with Ctrl-C held back (``cancel.in_worker``)
            for _ in range(self.workers):
                executor.submit(int)

    async def run(
        self,
        job: Job[R],
        html: str,
        url: str,
        *,
        timeout: float | None = None,
        inline: bool = False,
    ) -> R | Failed:
        """``job(html, url)`` in a worker. ``inline``: small work, run in this process (one
        page at a time) rather than starting the workers for it."""
        if inline:
            return await asyncio.to_thread(_in_this_process, job, html, url)
        limit = timeout or EXTRACT_TIMEOUT
        loop = asyncio.get_running_loop()
        for _attempt in (1, 2):
            executor = self.start()
            try:
                with cancel.blocked():  # a worker started here boots with Ctrl-C held back
                    running = loop.run_in_executor(executor, job, html, url)
                result: R | Failed = await asyncio.wait_for(running, limit)
                return result
            except TimeoutError:
                self._replace(executor, kill=True)
                return Failed(reason="extract_timeout", detail=f"extraction took over {limit:g}s")
            except BrokenProcessPool:
                self._replace(executor, kill=False)
        return Failed(
            reason="extract_crash", detail="the extraction worker died twice on this page"
        )

    def _replace(self, broken: ProcessPoolExecutor, *, kill: bool) -> None:
        """Drop ``broken`` (unless another page already did): the next job starts fresh
        workers."""
        with self._lock:
            if self._executor is not broken:
                return
            self._executor = None
        _end(broken, kill=kill, join=0)

    def close(self, *, kill: bool = True) -> None:
        """End the workers; the pool cannot be used after. Closing twice is harmless. Its
        owner closes it once its work is done, so the workers are idle and, with ``kill``
        (the default), ended at once: their own exit (an interpreter full of lxml and
        trafilatura taking itself apart) takes 0.2-0.5 s each, at the end of every command
        that extracted in them. ``kill=False`` lets them exit by themselves."""
        with self._lock:
            executor, self._executor = self._executor, None
            self._closed = True
        if executor is not None:
            _end(executor, kill=kill, join=5)


def shared_pool() -> ExtractionPool | None:
    """The pool an owner shares with this context (``ExtractionPool.shared``), if any and
    still open (a task thread may outlive a failed run's pool)."""
    pool = _shared.get()
    return None if pool is None or pool.closed else pool

"""Stopping a run cleanly: Ctrl-C (SIGINT) or SIGTERM asks the run to stop, a second one
ends the process at once.

The first signal only sets a flag: fetches not yet started are skipped, requests in flight
are dropped, pages already processed are spooled, and the flow records its run as
``cancelled`` and ends its Prefect run in the Cancelled state. The command then exits with
130 and no traceback. A second signal ends the process at once (its run is found
``abandoned`` by the next start; what it spooled is loaded then).

Worker processes (extraction, a process pool's batches) take the same flag from the signal
the terminal sends the whole process group, and the parent forwards it to its children when
the signal came to it alone (``kill``, a service manager). Every worker also ends itself when
its parent is gone (``watch_parent``), so a killed command leaves no process behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

EXIT_CODE = 130  # 128 + SIGINT, what shells report for a command ended by Ctrl-C

_requested = threading.Event()
_watching = threading.Event()


def requested() -> bool:
    """Whether this process was asked to stop."""
    return _requested.is_set()


def request() -> None:
    _requested.set()


def reset() -> None:
    _requested.clear()


def _children() -> list[int]:
    """This process's direct children (Linux)."""
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{os.getpid()}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                pids += [int(p) for p in (task / "children").read_text().split()]
    return pids


def install(
    on_first: Callable[[], None] | None = None,
    on_second: Callable[[], None] | None = None,
    *,
    spare: Callable[[], set[int]] = set,
) -> None:
    """In the main thread of a command: SIGINT and SIGTERM ask the run to stop; the second
    one calls ``on_second`` (which should end the process). ``on_first`` tells the user.
    The signal is passed on to child processes, except those in ``spare()`` (a server
    started for the command, which is stopped last)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if _requested.is_set():
            if on_second is not None:
                on_second()
            os._exit(EXIT_CODE)
        _requested.set()
        keep = spare()
        for pid in _children():
            if pid not in keep:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGINT)
        if on_first is not None:
            on_first()

    global _handler
    _handler = handler
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


_handler: Callable[[int, FrameType | None], None] | None = None


def reclaim() -> None:
    """Install the command's handlers again (in a flow body: Prefect's flow engine puts its
    own SIGTERM handler in place for the run, which would crash the run instead of
    stopping it); Prefect puts ours back when the run ends."""
    if _handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)
        signal.signal(signal.SIGTERM, _handler)


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def blocked() -> Iterator[None]:
    """Around starting worker processes: they inherit the calling thread's signal mask, so a
    Ctrl-C while a new interpreter boots waits until ``in_worker`` has set its handling
    (instead of a KeyboardInterrupt traceback from the middle of its imports)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


REPEAT_WINDOW = 5.0
_first_stop = [0.0]  # when this worker was first asked to stop (time.monotonic)


def in_worker(*, stoppable: bool = True) -> None:
    """In a worker process (its main thread): SIGINT asks its work to stop (a second ends
    it), or with ``stoppable`` false is ignored (the parent decides); SIGTERM keeps its
    default, which pools use to end workers. The worker ends itself when its parent is
    gone.

    A terminal's Ctrl-C reaches a worker twice: from the terminal (the whole process group)
    and from its parent, which passes it on (``install``). A repeat within
    ``REPEAT_WINDOW`` seconds of the first is that same Ctrl-C, not a second one: ending the
    worker then would break its pool and lose the batch it was finishing. (A real second
    Ctrl-C ends the parent at once, and the worker with it.)"""
    if threading.current_thread() is threading.main_thread():

        def handler(signum: int, frame: FrameType | None) -> None:
            now = time.monotonic()
            if _requested.is_set():
                if now - _first_stop[0] > REPEAT_WINDOW:
                    os._exit(EXIT_CODE)
                return
            _first_stop[0] = now
            _requested.set()

        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGINT, handler if stoppable else signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked while it started
    import multiprocessing

    parent = multiprocessing.parent_process()
    watch_parent(parent.pid if parent is not None else None)


def watch_parent(parent: int | None = None, interval: float = 0.5) -> None:
    """End this process when its parent (``parent``, else the current one) is gone (it was
    killed, even by SIGKILL): a daemon thread notices the new parent. Works whichever thread
    of the parent started this process, which the kernel's parent-death signal does not (it
    fires when that thread ends, and pools start workers from short-lived threads)."""
    global _parent
    # the pid that started this process, when known, wins over the current parent (which
    # is already init's, or a subreaper's, if that parent died while this one booted)
    if parent is not None or _parent is None:
        _parent = parent or os.getppid()
    if _watching.is_set():
        return
    _watching.set()

    def watch() -> None:
        while True:
            if os.getppid() != _parent:
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                os._exit(1)
            if _stopped.wait(interval):
                return

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


_stopped = threading.Event()
_parent: int | None = None


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """For ``subprocess.Popen(preexec_fn=...)`` from the main thread: the kernel sends
    ``sig`` to the child when this process ends (Linux ``PR_SET_PDEATHSIG``)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG


# A worker process a pool starts (multiprocessing's spawn) imports the command's modules
# before anything of ours runs in it, which takes seconds on a loaded machine: watch the
# parent from the first import of this module, so a command killed meanwhile leaves none
# (``orig_argv``: spawn replaces ``sys.argv`` with the parent's before that import).
if "--multiprocessing-fork" in getattr(sys, "orig_argv", ()):
    watch_parent()

"""A tiny progress channel from flows to whoever is watching (the CLI's progress bar).

Flows and tasks call ``advance``; the CLI installs a sink with ``watching``. With no sink
(a deployment run, a test) the calls cost nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Sink = Callable[[str, int, int | None], None]  # (phase, advance, total or None)

_lock = threading.Lock()
_sink: Sink | None = None


def advance(phase: str, step: int = 0, total: int | None = None) -> None:
    sink = _sink
    if sink is not None:
        with _lock:
            sink(phase, step, total)


@contextmanager
def watching(sink: Sink) -> Iterator[None]:
    global _sink
    previous, _sink = _sink, sink
    try:
        yield
    finally:
        _sink = previous

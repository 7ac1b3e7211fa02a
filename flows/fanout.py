"""Handing a flow's work to its task runner in chunks, a bounded window at a time (no Prefect
import: ``chunked`` serves runs in the command's process too)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from newsflow import cancel

if TYPE_CHECKING:
    from prefect.futures import PrefectFuture

T = TypeVar("T")


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


def chunked(items: list[T], size: int) -> list[list[T]]:
    """``items`` in consecutive lists of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]

"""The steps of ``flows/steps.py`` as Prefect tasks of a flow run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from prefect.futures import PrefectFuture

from newsflow.flows.fanout import bounded_map
from newsflow.flows.lifecycle import finish
from newsflow.flows.loading import BackgroundLoader
from newsflow.flows.summary import RunSummary
from newsflow.settings import Settings

T = TypeVar("T")
C = TypeVar("C")


class PrefectRunner:
    """Runs each step as its Prefect task (``tasks``: step -> task) in the flow run's task
    runner; the final load is the ``load-spool`` task, the summary the run's artifact."""

    def __init__(self, tasks: dict[Callable[..., Any], Any]) -> None:
        self.tasks = tasks

    def submit(self, step: Callable[..., T], *args: Any) -> PrefectFuture[T]:
        future: PrefectFuture[T] = self.tasks[step].submit(*args)
        return future

    def call(self, step: Callable[..., T], *args: Any) -> T:
        result: T = self.tasks[step](*args)
        return result

    def map(
        self, step: Callable[..., T], chunks: list[C], window: int, **kwargs: Any
    ) -> Iterator[tuple[C, T]]:
        yield from bounded_map(self.tasks[step], chunks, window, **kwargs)

    def finish(
        self, summary: RunSummary, settings: Settings, loader: BackgroundLoader
    ) -> RunSummary:
        return finish(summary, settings, loader=loader)

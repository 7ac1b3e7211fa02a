"""The steps of ``flows/steps.py`` as Prefect tasks of a flow run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from prefect import Task, task
from prefect.futures import PrefectFuture

from newsflow.flows.fanout import bounded_map
from newsflow.flows.lifecycle import finish
from newsflow.flows.loading import BackgroundLoader
from newsflow.flows.steps import STEPS
from newsflow.flows.summary import RunSummary
from newsflow.settings import Settings
from newsflow.tasks.errors import retry_transient

T = TypeVar("T")
C = TypeVar("C")


def as_task(step: Callable[..., T]) -> Task[..., T]:
    """``step`` as its flow's Prefect task: its name and retries from ``steps.STEPS``."""
    spec = STEPS[step]
    made: Task[..., T] = task(
        name=spec.name, retries=spec.retries, retry_condition_fn=retry_transient
    )(step)
    return made


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

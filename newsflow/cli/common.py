"""What the command line's parts share: the consoles, the ``--db`` option, settings checked at
the start of a command, operator errors, running a flow with a progress bar, and the run
summary as the terminal shows it.

Kept light to import (``newsflow --help`` loads it): the flows, the warehouse and Prefect are
imported inside the functions that use them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from newsflow import cancel, progress
from newsflow.flows.runtime import ServerError, prefect_api, prefect_home, spared
from newsflow.settings import Settings

if TYPE_CHECKING:
    from newsflow.flows.summary import RunSummary

console = Console()
err = Console(stderr=True)

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="Warehouse file (env NEWSFLOW_DB; default warehouse/news.duckdb); a path ending "
        "in .ducklake, or ducklake:postgres:<libpq string> with NEWSFLOW_LAKE_DATA, for a "
        "warehouse on DuckLake.",
    ),
]


def command_settings(db: Path | None, **overrides: Any) -> Settings:
    """The run's settings, checked before any work: a bad value, an unusable --db or a spool
    whose filesystem is not installed is an operator error (``main`` prints it, exit 2)."""
    from newsflow.cli.operator_errors import check_spool_filesystem
    from newsflow.warehouse.db import check_warehouse_path

    if db is not None:
        overrides["db"] = db
    settings = Settings(**overrides)
    check_warehouse_path(settings.db, settings.lake_data)
    check_spool_filesystem(settings.spool)
    prefect_home(settings.db)  # before Prefect is imported: its home beside the warehouse
    return settings


def operator_error(message: str) -> typer.Exit:
    """An operator's mistake as one plain line; exit 2."""
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def fail(message: str, hint: str = "") -> typer.Exit:
    """A failure, with what to do about it; exit 1."""
    err.print(f"[bold red]error:[/] {message}")
    if hint:
        err.print(f"[yellow]hint:[/] {hint}")
    return typer.Exit(1)


@contextmanager
def progress_bar(label: str) -> Iterator[None]:
    """A progress bar per phase a flow reports (``newsflow.progress``), on a terminal only."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def sink(phase: str, step: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"{label} {phase}", total=total)
            if total is not None:
                bar.update(tasks[phase], total=total)
            bar.advance(tasks[phase], step)

        with progress.watching(sink):
            yield


def print_summary(summary: RunSummary, db: Path, *, details: bool = True) -> None:
    """The run summary on the terminal: the counts, where they went, what to do next; with
    ``details``, the flow's own lines (feed polls, a backfill's revisions and sitemaps)."""
    load = summary.load
    table = Table(title=f"{summary.flow}: summary", title_justify="left")
    table.add_column("measure")
    table.add_column("count", justify="right")
    rows = [
        ("items considered", summary.items),
        ("new articles loaded", load.loaded),
        ("  of which duplicates", load.duplicates),
        ("known articles, text changed", load.updated),
        ("known articles, unchanged", load.unchanged),
        ("new sightings", load.sightings),
        ("rejected", load.rejects),
        ("spool batches loaded", load.batches),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    for reason, count in sorted(load.rejects_by_reason.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  rejected: {reason}", str(count))
    console.print(table)
    console.print(f"run {summary.run_id} -> warehouse {db}")
    console.print('next: newsflow sql "SELECT domain, title FROM articles_unique"; newsflow status')
    if details:
        _print_details(summary)


def _print_details(summary: RunSummary) -> None:
    if summary.flow == "backfill":
        console.print(f"article rows revised: {summary.load.revised}")
    if (feeds := summary.feeds) is not None:
        console.print(
            f"feeds: {feeds.polled} polled, {feeds.updated} with a new response, "
            f"{feeds.not_modified} not modified (304), {feeds.failed} failed, "
            f"{feeds.quarantined} quarantined and skipped; {feeds.entries} entries, "
            f"{feeds.already_known} already in the warehouse"
        )
    if (found := summary.sitemaps) is not None:
        console.print(
            f"sitemaps read: {found.sitemaps} ({found.unreadable} unreadable); URLs "
            f"dated in the range: {found.in_range}, already loaded: "
            f"{found.already_loaded}, already failed (see --mode refetch): "
            f"{found.already_failed}, fetched: {found.fetched}"
        )


def _stopping() -> None:
    # from a signal handler: a plain write, no console lock
    os.write(
        2,
        b"\nstopping: no new fetches; pages in hand are spooled and loaded. "
        b"Ctrl-C again to quit at once (a later run loads what is spooled).\n",
    )


def run_flow(settings: Settings, label: str, call: Callable[[], Any]) -> RunSummary:
    """Run a flow (``call``: its summary, or its final state) against the Prefect API
    (``newsflow.flows.runtime``), with a progress bar; Ctrl-C or SIGTERM stop it cleanly
    (``newsflow.cancel``): the summary of what it did, then exit 130."""
    # Imported here, not at the top: `newsflow --help` and small commands never load them.
    from newsflow.cli.operator_errors import quiet_operator_errors
    from newsflow.flows.summary import RunSummary
    from newsflow.warehouse.db import WarehouseLocked

    home = prefect_home(settings.db)
    log = home / "server.log"
    try:
        with (
            prefect_api(home, settings.prefect_server, settings.prefect_port),
            quiet_operator_errors(),
        ):
            cancel.install(on_first=_stopping, spare=spared)
            with progress_bar(label):
                outcome = call()
    except ServerError as exc:
        raise fail(str(exc), "newsflow server status; newsflow server stop") from exc
    except WarehouseLocked as exc:
        raise fail(str(exc)) from exc
    except Exception as exc:
        raise _run_failed(exc, settings, log) from exc
    if isinstance(outcome, RunSummary) and not cancel.requested():
        return outcome
    if isinstance(outcome, RunSummary) or outcome.is_cancelled():  # stopped: what it did, 130
        summary: RunSummary = (
            outcome if isinstance(outcome, RunSummary) else outcome.result(raise_on_failure=False)
        )
        raise _cancelled(summary, settings)
    try:
        result: RunSummary = outcome.result()
        return result
    except Exception as exc:
        raise _run_failed(exc, settings, log) from exc


def run_inline(
    settings: Settings, label: str, call: Callable[[], RunSummary | None]
) -> RunSummary | None:
    """Run the work in the command's process (``call``: a ``flows.inline`` run, its
    summary, or None when the work runs as the Prefect flow), with a progress bar;
    Ctrl-C or SIGTERM stop it cleanly: the summary of what it did, then exit 130."""
    from newsflow.cli.operator_errors import describe
    from newsflow.warehouse.db import WarehouseLocked

    cancel.install(on_first=_stopping, spare=spared)
    try:
        with progress_bar(label):
            summary = call()
    except WarehouseLocked as exc:
        raise fail(str(exc)) from exc
    except Exception as exc:
        if (message := describe(exc, settings)) is not None:
            raise operator_error(message) from exc
        raise fail(f"the run failed: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    if summary is not None and cancel.requested():
        raise _cancelled(summary, settings)
    return summary


def _cancelled(summary: RunSummary, settings: Settings) -> typer.Exit:
    """A run stopped by Ctrl-C or SIGTERM: what it did; exit 130."""
    print_summary(summary, settings.db, details=False)
    err.print(
        "[yellow]cancelled:[/] what was fetched is loaded; run the command again for "
        "the rest (articles already loaded are not loaded twice)"
    )
    return typer.Exit(cancel.EXIT_CODE)


def _run_failed(exc: Exception, settings: Settings, log: Path) -> typer.Exit:
    """An operator error (exit 2) if ``exc`` is one, else the run's failure (exit 1)."""
    from newsflow.cli.operator_errors import describe

    if (message := describe(exc, settings)) is not None:
        return operator_error(message)
    return fail(f"the run failed: {type(exc).__name__}: {exc}", f"the Prefect server log is {log}")


def warehouse_reader(settings: Settings) -> Any:
    """The sandboxed, read-only connection analysts' reads go through (warehouse/sandbox.py)."""
    from newsflow.warehouse import sandbox
    from newsflow.warehouse.db import WarehouseLocked

    try:
        return sandbox.connect(settings.db)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    except WarehouseLocked as exc:
        raise fail(str(exc), "a load is running; try again when it ends") from exc


def print_rows(title: str | None, columns: list[str], rows: list[Any], limit: int = 0) -> None:
    """Rows as a table on the terminal (``limit``: the first so many; 0 for all)."""
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name, overflow="fold", max_width=80)
    for row in rows[: limit or None]:
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    console.print(table)

"""The ``newsflow`` command line.

Exit status: 0 when the run completed (single rejected items are normal), 1 when the run
itself failed, 2 for a usage error, 130 when it was stopped (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from newsflow import cancel, progress
from newsflow.runtime import ServerError, prefect_api, prefect_home, quiet_prefect_defaults, spared
from newsflow.settings import Settings

app = typer.Typer(
    name="newsflow",
    help="Ingest news from seed files, feeds and URLs into a DuckDB warehouse, with Prefect.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="Warehouse file (env NEWSFLOW_DB; default warehouse/news.duckdb)."),
]


def _settings(db: Path | None, **overrides: Any) -> Settings:
    """The run's settings, checked before any work: a bad value, an unusable --db or a spool
    whose filesystem is not installed is an operator error (``main`` prints it, exit 2)."""
    from newsflow.operator_errors import check_spool_filesystem
    from warehouse.db import check_warehouse_path

    if db is not None:
        overrides["db"] = db
    settings = Settings(**overrides)
    check_warehouse_path(settings.db)
    check_spool_filesystem(settings.spool)
    prefect_home(settings.db)  # before Prefect is imported: its home beside the warehouse
    return settings


def _operator_error(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _fail(message: str, hint: str = "") -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    if hint:
        err.print(f"[yellow]hint:[/] {hint}")
    return typer.Exit(1)


@contextmanager
def _progress_bar(label: str) -> Iterator[None]:
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


def _print_summary(summary: dict[str, Any], db: Path) -> None:
    load = summary["load"]
    table = Table(title=f"{summary['flow']}: summary", title_justify="left")
    table.add_column("measure")
    table.add_column("count", justify="right")
    rows = [
        ("items considered", summary["items"]),
        ("new articles loaded", load["loaded"]),
        ("  of which duplicates", load["duplicates"]),
        ("known articles, text changed", load["updated"]),
        ("known articles, unchanged", load["unchanged"]),
        ("new sightings", load["sightings"]),
        ("rejected", load["rejects"]),
        ("spool batches loaded", load["batches"]),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    for reason, count in sorted(load["rejects_by_reason"].items(), key=lambda kv: -kv[1]):
        table.add_row(f"  rejected: {reason}", str(count))
    console.print(table)
    console.print(f"run {summary['run_id']} -> warehouse {db}")
    console.print('next: newsflow sql "SELECT domain, title FROM articles_unique"; newsflow status')


def _stopping() -> None:
    # from a signal handler: a plain write, no console lock
    os.write(
        2,
        b"\nstopping: no new fetches; pages in hand are spooled and loaded. "
        b"Ctrl-C again to quit at once (a later run loads what is spooled).\n",
    )


def _run_flow(settings: Settings, label: str, call: Any) -> dict[str, Any]:
    """Run a flow (``call``) against the Prefect API (``newsflow.runtime``), with a progress
    bar; Ctrl-C or SIGTERM stop it cleanly (``newsflow.cancel``): the summary of what it did,
    then exit 130."""
    from newsflow.operator_errors import quiet_operator_errors
    from warehouse.db import WarehouseLocked

    home = prefect_home(settings.db)
    log = home / "server.log"
    try:
        with (
            prefect_api(home, settings.prefect_server, settings.prefect_port),
            quiet_operator_errors(),
        ):
            cancel.install(on_first=_stopping, spare=spared)
            with _progress_bar(label):
                outcome = call()
    except ServerError as exc:
        raise _fail(str(exc), "newsflow server status; newsflow server stop") from exc
    except WarehouseLocked as exc:
        raise _fail(str(exc)) from exc
    except Exception as exc:
        from newsflow.operator_errors import describe

        if (message := describe(exc, settings)) is not None:
            raise _operator_error(message) from exc
        raise _fail(
            f"the run failed: {type(exc).__name__}: {exc}", f"the Prefect server log is {log}"
        ) from exc
    if isinstance(outcome, dict) and not cancel.requested():
        return outcome
    if isinstance(outcome, dict) or outcome.is_cancelled():  # stopped: what it did, then 130
        summary: dict[str, Any] = (
            outcome if isinstance(outcome, dict) else outcome.result(raise_on_failure=False)
        )
        _print_summary(summary, settings.db)
        err.print(
            "[yellow]cancelled:[/] what was fetched is loaded; run the command again for "
            "the rest (articles already loaded are not loaded twice)"
        )
        raise typer.Exit(cancel.EXIT_CODE)
    try:
        result: dict[str, Any] = outcome.result()
        return result
    except Exception as exc:
        from newsflow.operator_errors import describe

        if (message := describe(exc, settings)) is not None:
            raise _operator_error(message) from exc
        raise _fail(
            f"the run failed: {type(exc).__name__}: {exc}", f"the Prefect server log is {log}"
        ) from exc


@app.command("ingest-seeds")
def ingest_seeds(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Seed files or folders of them (default: seeds/)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Ingest seed files: article files (title, YYYYMMDD date, URL, body) and URL lists."""
    settings = _settings(db)
    targets = paths or [Path("seeds")]
    missing = [str(p) for p in targets if not p.exists()]
    if missing:
        err.print(f"[bold red]error:[/] no such file or folder: {', '.join(missing)}")
        raise typer.Exit(2)
    from newsflow import inline

    summary = inline.ingest_seeds(settings, [str(p) for p in targets])
    if summary is None:  # not small: the Prefect flow
        from flows.seeds import ingest_seeds as flow

        summary = _run_flow(
            settings,
            "ingesting",
            lambda: flow(paths=[str(p) for p in targets], settings=settings, return_state=True),
        )
    _print_summary(summary, settings.db)


def _reader(settings: Settings) -> Any:
    """The sandboxed, read-only connection analysts' reads go through (warehouse/sandbox.py)."""
    from warehouse import sandbox
    from warehouse.db import WarehouseLocked

    try:
        return sandbox.connect(settings.db)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from exc
    except WarehouseLocked as exc:
        raise _fail(str(exc), "a load is running; try again when it ends") from exc


def _print_rows(title: str | None, columns: list[str], rows: list[Any], limit: int = 0) -> None:
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name, overflow="fold", max_width=80)
    for row in rows[: limit or None]:
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    console.print(table)


@app.command("sql")
def sql(
    query: Annotated[str, typer.Argument(help="A SQL query; the warehouse is opened read-only.")],
    db: DbOption = None,
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
    json_lines: Annotated[
        bool, typer.Option("--json", help="Print one JSON object a line (for scripts).")
    ] = False,
    max_rows: Annotated[int, typer.Option(help="Rows shown in a table (0: all).")] = 200,
) -> None:
    """Run read-only SQL against the live warehouse and print the result.

    Sandboxed: no writes, no ATTACH, no file access outside the warehouse, no settings
    changes, no extension installs (each refused with exit 2). search_articles(...) works.
    """
    import duckdb

    from warehouse import sandbox

    if csv and json_lines:
        err.print("[bold red]error:[/] choose one of --csv and --json")
        raise typer.Exit(2)
    con = _reader(_settings(db))
    try:
        cursor = sandbox.run(con, query)
    except sandbox.Refused as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    except duckdb.Error as exc:
        raise _fail(
            str(exc).splitlines()[0],
            "tables: articles, rejects, feeds, runs, "
            "article_comments, article_sightings, article_versions; "
            "search_articles('words'); see warehouse/README.md",
        ) from exc
    if cursor.description is None:
        return
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    if csv or json_lines:
        import sys

        if csv:
            import csv as csv_mod

            writer = csv_mod.writer(sys.stdout)
            writer.writerow(columns)
            writer.writerows(rows)
        else:
            from newsflow.jsonlines import write_rows

            write_rows(sys.stdout, columns, rows)
        return
    _print_rows(None, columns, rows, max_rows)
    if max_rows and len(rows) > max_rows:
        err.print(f"({len(rows)} rows, {max_rows} shown; use --max-rows 0 or --csv for all)")


@app.command("status")
def status(db: DbOption = None) -> None:
    """Row counts, last runs, feed health, rejects by reason and batches waiting in the spool."""
    from tasks.spool import incomplete, pending

    settings = _settings(db)
    waiting = pending(settings.spool)
    stale = incomplete(settings.spool)
    if not settings.db.exists():
        console.print(f"no warehouse at {settings.db} yet; {len(waiting)} batches in the spool")
        return
    con = _reader(settings)
    counts = [
        (name, con.execute(f"SELECT count(*) FROM {name}").fetchone()[0])
        for name in (
            "articles",
            "articles_unique",
            "article_sightings",
            "article_versions",
            "article_comments",
            "rejects",
            "feeds",
            "runs",
        )
    ]
    _print_rows("rows", ["table", "rows"], counts)
    runs = con.execute(
        "SELECT flow, started_at, finished_at, status, items, loaded, duplicates, rejected "
        "FROM runs ORDER BY started_at DESC LIMIT 5"
    )
    _print_rows("last runs", [d[0] for d in runs.description], runs.fetchall())
    feeds = con.execute(
        "SELECT count(*) AS feeds, count(*) FILTER (consecutive_failures > 0) AS failing, "
        "max(last_success_at) AS last_success FROM feeds"
    )
    _print_rows("feed health", [d[0] for d in feeds.description], feeds.fetchall())
    rejects = con.execute(
        "SELECT reason, stage, count(*) AS n, max(rejected_at) AS last FROM rejects "
        "GROUP BY ALL ORDER BY n DESC"
    )
    _print_rows("rejects by reason", [d[0] for d in rejects.description], rejects.fetchall())
    console.print(
        f"spool {settings.spool}: {len(waiting)} batches waiting for the loader"
        + (f", {len(stale)} abandoned (no manifest)" if stale else "")
    )


# Commands of other areas live in their own modules and register themselves on ``app``;
# importing them here puts them on the command line.
# (one import line per module, kept sorted)
from newsflow import (  # noqa: E402, F401
    cli_analyst,
    cli_fetch,
    cli_orchestrate,
    cli_scale,
    cli_server,
)


def main() -> None:
    quiet_prefect_defaults()
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C before a run's own handling (start-up): no traceback
        raise SystemExit(cancel.EXIT_CODE) from None
    except Exception as exc:  # the one place operator errors become a line and exit 2
        from newsflow.operator_errors import describe

        message = describe(exc)
        if message is None:
            raise
        _operator_error(message)
        raise SystemExit(2) from None


if __name__ == "__main__":  # `python -m newsflow.cli`: run the module the commands registered on
    from newsflow.cli import main as _main

    _main()

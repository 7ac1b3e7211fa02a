"""``newsflow sql`` and ``newsflow status``: the live warehouse, read-only."""

from __future__ import annotations

import csv as csv_mod
import sys
from typing import Annotated

import typer

from newsflow.cli.common import (
    DbOption,
    command_settings,
    console,
    err,
    fail,
    print_rows,
    warehouse_reader,
)
from newsflow.jsonlines import write_rows


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
    # DuckDB and the sandbox load when a query runs, not for `newsflow --help`.
    import duckdb

    from newsflow.warehouse import sandbox

    if csv and json_lines:
        err.print("[bold red]error:[/] choose one of --csv and --json")
        raise typer.Exit(2)
    con = warehouse_reader(command_settings(db))
    try:
        cursor = sandbox.run(con, query)
    except sandbox.Refused as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    except duckdb.Error as exc:
        raise fail(
            str(exc).splitlines()[0],
            "tables: articles, rejects, feeds, runs, "
            "article_comments, article_sightings, article_versions; "
            "search_articles('words'); see warehouse/README.md",
        ) from exc
    if cursor.description is None:
        return
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    if csv:
        writer = csv_mod.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
        return
    if json_lines:
        write_rows(sys.stdout, columns, rows)
        return
    print_rows(None, columns, rows, max_rows)
    if max_rows and len(rows) > max_rows:
        err.print(f"({len(rows)} rows, {max_rows} shown; use --max-rows 0 or --csv for all)")


def status(db: DbOption = None) -> None:
    """Row counts, last runs, feed health, rejects by reason and batches waiting in the spool."""
    from newsflow.tasks.spool import (  # the spool's module loads with its command
        incomplete,
        pending,
    )
    from newsflow.warehouse import storage

    settings = command_settings(db)
    waiting = pending(settings.spool)
    stale = incomplete(settings.spool)
    if not storage.exists(settings.db):
        console.print(f"no warehouse at {settings.db} yet; {len(waiting)} batches in the spool")
        return
    con = warehouse_reader(settings)
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
    print_rows("rows", ["table", "rows"], counts)
    runs = con.execute(
        "SELECT flow, started_at, finished_at, status, items, loaded, duplicates, rejected "
        "FROM runs ORDER BY started_at DESC LIMIT 5"
    )
    print_rows("last runs", [d[0] for d in runs.description], runs.fetchall())
    feeds = con.execute(
        "SELECT count(*) AS feeds, count(*) FILTER (consecutive_failures > 0) AS failing, "
        "max(last_success_at) AS last_success FROM feeds"
    )
    print_rows("feed health", [d[0] for d in feeds.description], feeds.fetchall())
    rejects = con.execute(
        "SELECT reason, stage, count(*) AS n, max(rejected_at) AS last FROM rejects "
        "GROUP BY ALL ORDER BY n DESC"
    )
    print_rows("rejects by reason", [d[0] for d in rejects.description], rejects.fetchall())
    console.print(
        f"spool {settings.spool}: {len(waiting)} batches waiting for the loader"
        + (f", {len(stale)} abandoned (no manifest)" if stale else "")
    )


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)
    app.command("status")(status)

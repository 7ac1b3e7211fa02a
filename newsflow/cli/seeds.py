"""``newsflow ingest-seeds``: seed files (article files and URL lists) into the warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsflow.cli.common import (
    DbOption,
    command_settings,
    err,
    print_summary,
    run_flow,
    run_inline,
)


def ingest_seeds(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Seed files or folders of them (default: seeds/)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Ingest seed files: article files (title, YYYYMMDD date, URL, body) and URL lists."""
    settings = command_settings(db)
    targets = paths or [Path("seeds")]
    missing = [str(p) for p in targets if not p.exists()]
    if missing:
        err.print(f"[bold red]error:[/] no such file or folder: {', '.join(missing)}")
        raise typer.Exit(2)
    from newsflow.flows import inline  # the flows load only when a run starts

    files = [str(p) for p in targets]
    summary = run_inline(settings, "ingesting", lambda: inline.ingest_seeds(settings, files))
    if summary is None:  # not small: the Prefect flow
        from newsflow.flows.seeds import ingest_seeds as flow

        summary = run_flow(
            settings,
            "ingesting",
            lambda: flow(paths=files, settings=settings, return_state=True),
        )
    print_summary(summary, settings.db)


def register(app: typer.Typer) -> None:
    app.command("ingest-seeds")(ingest_seeds)

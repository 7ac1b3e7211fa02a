"""Commands that fetch from the web: ``ingest-feeds``, ``ingest-urls``, ``feeds import-opml``.

The stages and flows are imported inside the commands, so ``newsflow --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from newsflow.cli.common import (
    DbOption,
    command_settings,
    console,
    err,
    fail,
    print_summary,
    run_flow,
    run_inline,
)

DEFAULT_FEEDS_FILE = Path("seeds/feeds.toml")


def ingest_feeds(
    feed: Annotated[
        list[str] | None,
        typer.Option("--feed", help="A feed URL to poll (repeatable); overrides the feeds file."),
    ] = None,
    feeds_file: Annotated[
        Path | None,
        typer.Option("--feeds-file", help="The feeds file (default: seeds/feeds.toml)."),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Only the feeds of the feeds file with this tag (repeatable)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Poll RSS/Atom/JSON feeds (conditional GET) and ingest the articles of new entries.

    Quarantined feeds (repeated hard failures, 410 Gone) are skipped until their re-probe time.
    """
    from newsflow.tasks.normalize import is_http_url

    settings = command_settings(db)
    bad = [u for u in feed or [] if not is_http_url(u)]
    if bad:
        err.print(f"[bold red]error:[/] not an http(s) URL: {', '.join(bad)}")
        raise typer.Exit(2)
    path = feeds_file or DEFAULT_FEEDS_FILE
    if not feed and not path.exists():
        err.print(f"[bold red]error:[/] no feeds file {path}; give --feed URL or --feeds-file")
        raise typer.Exit(2)
    from newsflow.flows import inline, steps

    # the feeds file is read here, once: the run (in process or the flow) takes what was read
    feeds, tags = (list(feed) if feed else None), (list(tag) if tag else None)
    named: dict[str, Any] = {"feeds": feeds, "feeds_file": str(path), "tags": tags}
    try:
        specs = steps.resolve_feeds(feeds, str(path), tags)
    except Exception as exc:
        err.print(f"[bold red]error:[/] {path} is not a valid feeds file: {exc}")
        raise typer.Exit(2) from exc
    summary = run_inline(settings, "ingesting", lambda: inline.ingest_feeds(settings, specs, named))
    if summary is None:  # not small: the Prefect flow (extraction workers boot meanwhile)
        with inline.extraction(settings):
            from newsflow.flows.feeds import ingest_feeds as flow

            summary = run_flow(
                settings,
                "ingesting",
                lambda: flow(**named, settings=settings, specs=specs, return_state=True),
            )
    print_summary(summary, settings.db)


def ingest_urls(
    urls: Annotated[list[str], typer.Argument(help="Article page URLs (http or https).")],
    db: DbOption = None,
) -> None:
    """Fetch and ingest single article pages (robots.txt and per-host limits apply)."""
    from newsflow.tasks.normalize import is_http_url

    bad = [u for u in urls if not is_http_url(u)]
    if bad:
        err.print(f"[bold red]error:[/] not an http(s) URL: {', '.join(bad)}")
        raise typer.Exit(2)
    settings = command_settings(db)
    from newsflow.flows import inline

    summary = run_inline(settings, "fetching", lambda: inline.ingest_urls(settings, list(urls)))
    if summary is None:  # not small: the Prefect flow (extraction workers boot meanwhile)
        with inline.extraction(settings):
            from newsflow.flows.urls import ingest_urls as flow

            summary = run_flow(
                settings,
                "fetching",
                lambda: flow(urls=list(urls), settings=settings, return_state=True),
            )
    print_summary(summary, settings.db)


def import_opml(
    file: Annotated[Path, typer.Argument(help="An OPML file, as feed readers export.")],
    feeds_file: Annotated[
        Path, typer.Option("--feeds-file", help="The feeds file to add to.")
    ] = DEFAULT_FEEDS_FILE,
    db: DbOption = None,  # taken like every command's; the feeds file is not in the warehouse
) -> None:
    """Add the feeds of an OPML file to the feeds file (feeds already there are kept as is)."""
    from newsflow.tasks.feeds import append_feeds, parse_opml

    if not file.is_file():
        err.print(f"[bold red]error:[/] no such file: {file}")
        raise typer.Exit(2)
    try:
        specs = parse_opml(file.read_bytes())
    except Exception as exc:
        raise fail(f"{file} is not a readable OPML file: {exc}") from exc
    try:
        added = append_feeds(feeds_file, specs)
    except Exception as exc:
        raise fail(f"{feeds_file} could not be updated: {exc}") from exc
    console.print(
        f"{len(specs)} feeds in {file}: {len(added)} added to {feeds_file}, "
        f"{len(specs) - len(added)} already there"
    )


def register(app: typer.Typer) -> None:
    app.command("ingest-feeds")(ingest_feeds)
    app.command("ingest-urls")(ingest_urls)
    feeds_app = typer.Typer(help="Manage the feeds file (seeds/feeds.toml).", no_args_is_help=True)
    feeds_app.command("import-opml")(import_opml)
    app.add_typer(feeds_app, name="feeds")

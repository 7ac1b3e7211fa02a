"""Commands that fetch from the web: ``ingest-feeds``, ``ingest-urls``, ``feeds import-opml``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from newsflow.cli import DbOption, _fail, _print_summary, _run_flow, _settings, app, console, err

feeds_app = typer.Typer(help="Manage the feeds file (seeds/feeds.toml).", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")

DEFAULT_FEEDS_FILE = Path("seeds/feeds.toml")


def _print_feeds(summary: dict[str, Any]) -> None:
    feeds = summary.get("feeds")
    if feeds:
        console.print(
            f"feeds: {feeds['polled']} polled, {feeds['updated']} with a new response, "
            f"{feeds['not_modified']} not modified (304), {feeds['failed']} failed, "
            f"{feeds['quarantined']} quarantined and skipped; {feeds['entries']} entries, "
            f"{feeds['already_known']} already in the warehouse"
        )


@app.command("ingest-feeds")
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
    from tasks.feeds import load_feeds_file
    from tasks.normalize import is_http_url

    settings = _settings(db)
    bad = [u for u in feed or [] if not is_http_url(u)]
    if bad:
        err.print(f"[bold red]error:[/] not an http(s) URL: {', '.join(bad)}")
        raise typer.Exit(2)
    path = feeds_file or DEFAULT_FEEDS_FILE
    if not feed:
        if not path.exists():
            err.print(f"[bold red]error:[/] no feeds file {path}; give --feed URL or --feeds-file")
            raise typer.Exit(2)
        try:
            load_feeds_file(path)
        except Exception as exc:
            err.print(f"[bold red]error:[/] {path} is not a valid feeds file: {exc}")
            raise typer.Exit(2) from exc
    from newsflow import inline

    summary = inline.ingest_feeds(
        settings, list(feed) if feed else None, str(path), list(tag) if tag else None
    )
    if summary is None:  # not small: the Prefect flow
        inline.start_extraction(settings)
        from flows.feeds import ingest_feeds as flow

        summary = _run_flow(
            settings,
            "ingesting",
            lambda: flow(
                feeds=list(feed) if feed else None,
                feeds_file=str(path),
                tags=list(tag) if tag else None,
                settings=settings,
                return_state=True,
            ),
        )
    _print_summary(summary, settings.db)
    _print_feeds(summary)


@app.command("ingest-urls")
def ingest_urls(
    urls: Annotated[list[str], typer.Argument(help="Article page URLs (http or https).")],
    db: DbOption = None,
) -> None:
    """Fetch and ingest single article pages (robots.txt and per-host limits apply)."""
    from tasks.normalize import is_http_url

    bad = [u for u in urls if not is_http_url(u)]
    if bad:
        err.print(f"[bold red]error:[/] not an http(s) URL: {', '.join(bad)}")
        raise typer.Exit(2)
    settings = _settings(db)
    from newsflow import inline

    summary = inline.ingest_urls(settings, list(urls))
    if summary is None:  # not small: the Prefect flow
        inline.start_extraction(settings)
        from flows.urls import ingest_urls as flow

        summary = _run_flow(
            settings,
            "fetching",
            lambda: flow(urls=list(urls), settings=settings, return_state=True),
        )
    _print_summary(summary, settings.db)


@feeds_app.command("import-opml")
def import_opml(
    file: Annotated[Path, typer.Argument(help="An OPML file, as feed readers export.")],
    feeds_file: Annotated[
        Path, typer.Option("--feeds-file", help="The feeds file to add to.")
    ] = DEFAULT_FEEDS_FILE,
    db: DbOption = None,  # taken like every command's; the feeds file is not in the warehouse
) -> None:
    """Add the feeds of an OPML file to the feeds file (feeds already there are kept as is)."""
    from tasks.feeds import append_feeds, parse_opml

    if not file.is_file():
        err.print(f"[bold red]error:[/] no such file: {file}")
        raise typer.Exit(2)
    try:
        specs = parse_opml(file.read_bytes())
    except Exception as exc:
        raise _fail(f"{file} is not a readable OPML file: {exc}") from exc
    try:
        added = append_feeds(feeds_file, specs)
    except Exception as exc:
        raise _fail(f"{feeds_file} could not be updated: {exc}") from exc
    console.print(
        f"{len(specs)} feeds in {file}: {len(added)} added to {feeds_file}, "
        f"{len(specs) - len(added)} already there"
    )

"""``newsflow serve`` and ``newsflow backfill``.

Prefect is imported inside the commands: ``main`` sets Prefect's defaults in the environment
first, and Prefect reads them at import.
"""

from __future__ import annotations

import os
import signal
from datetime import date, datetime
from pathlib import Path
from types import FrameType
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
)
from newsflow.flows.runtime import ServerError, configured_api, prefect_home, start

API_HELP = (
    "start one in another terminal with `prefect server start` (it keeps its SQLite database "
    "in ~/.prefect), then `export PREFECT_API_URL=http://127.0.0.1:4200/api` here and in "
    "every shell that runs newsflow"
)
MODES = ["reextract", "refetch", "sitemaps", "rededup"]


def _check_api(settings: Any) -> str:
    """The configured Prefect API URL, else the local server's (started if need be), if a
    server answers there; else exit with advice."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    url = configured_api()
    if not url and settings.prefect_server == "local":
        home = prefect_home(settings.db)
        try:
            url = start(home, settings.prefect_port).api_url
        except ServerError as exc:
            raise fail(str(exc), "newsflow server status; newsflow server stop") from exc
        os.environ["PREFECT_API_URL"] = url  # for the flow runs' processes
        from prefect.settings import temporary_settings

        temporary_settings(updates={PREFECT_API_URL: url}).__enter__()  # for this process
    if not url:
        err.print(
            "[bold red]error:[/] newsflow serve needs a Prefect server that schedules runs "
            "and evaluates triggers, and PREFECT_API_URL is not set (the temporary server of "
            "NEWSFLOW_PREFECT_SERVER=temporary can do neither; unset it to use the local one)."
        )
        err.print(f"[yellow]hint:[/] {API_HELP}")
        raise typer.Exit(2)
    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
    if problem is not None:
        raise fail(f"no Prefect server answers at PREFECT_API_URL={url} ({problem})", API_HELP)
    return str(url)


def _absolute_paths(settings: Any) -> None:
    """Flow runs start in other processes: give them the same warehouse and spool."""
    from newsflow.warehouse import storage

    os.environ["NEWSFLOW_DB"] = str(storage.absolute(settings.db))
    if settings.lake_data and "://" not in settings.lake_data:
        os.environ["NEWSFLOW_LAKE_DATA"] = str(Path(settings.lake_data).resolve())
    if "://" not in settings.spool:
        os.environ["NEWSFLOW_SPOOL"] = str(Path(settings.spool).resolve())


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def serve(
    seeds: Annotated[
        Path, typer.Option("--seeds", help="Seed folder to watch (new files are ingested).")
    ] = Path("seeds"),
    feeds_file: Annotated[
        Path, typer.Option("--feeds-file", help="Feeds to poll, grouped by tag.")
    ] = Path("seeds/feeds.toml"),
    debounce: Annotated[
        float,
        typer.Option(
            min=1.0, help="Seconds a burst of new seed files is collected before one run."
        ),
    ] = 10.0,
    loader_minutes: Annotated[
        float, typer.Option(min=1.0, help="Minutes between scheduled loader runs.")
    ] = 10.0,
    feed_minutes: Annotated[
        float, typer.Option(min=1.0, help="Default minutes between polls of a feed group.")
    ] = 30.0,
    scan_seconds: Annotated[
        float,
        typer.Option(
            min=1.0,
            help="Seconds between scans of the seed folder for files not yet in the "
            "warehouse's seed-file ledger (also one scan at start): files dropped while "
            "serve was down, or whose event was lost.",
        ),
    ] = 60.0,
    log_level: Annotated[
        str,
        typer.Option(help="Least level of the flow runs' logs kept in the Prefect UI."),
    ] = "INFO",
    db: DbOption = None,
) -> None:
    """Serve every deployment (schedules, event triggers, the backfill form) and watch the
    seed folder. Needs a running Prefect server: `prefect server start`, and PREFECT_API_URL
    pointing at it. Stop with Ctrl-C."""
    import asyncio

    settings = command_settings(db)  # first: Prefect's home is set before Prefect is imported
    from newsflow.flows.observe import set_extra_loggers_default

    url = _check_api(settings)
    _absolute_paths(settings)
    set_extra_loggers_default()
    from newsflow.deploy.serve import ServeOptions, build_deployments, serve_all
    from newsflow.warehouse import storage

    options = ServeOptions(
        seed_dir=seeds.resolve(),
        feeds_file=feeds_file.resolve(),
        debounce_seconds=debounce,
        loader_minutes=loader_minutes,
        feed_minutes=feed_minutes,
        db=storage.absolute(settings.db),
        scan_seconds=scan_seconds,
        seed_max_bytes=settings.seed_max_bytes,
    )
    deployments = build_deployments(options)
    console.print(f"serving {len(deployments)} deployments on {url}:")
    for deployment in deployments:
        console.print(f"  {deployment.flow_name}/{deployment.name}")
    console.print(
        f"watching {options.seed_dir} for seed files (and scanning it every "
        f"{scan_seconds:g} s for files not yet ingested); warehouse {settings.db}"
    )
    console.print("open the Prefect UI to run a backfill (deployment backfill/backfill)")
    _stop_on_sigterm()
    from prefect.settings import PREFECT_LOGGING_LEVEL, temporary_settings

    try:
        # Flow runs are child processes that get the runner's Prefect settings.
        with temporary_settings(updates={PREFECT_LOGGING_LEVEL: log_level.upper()}):
            asyncio.run(serve_all(options, deployments, on_ready=_say_ready))
    except KeyboardInterrupt:
        console.print("stopped")


def _say_ready(found: int) -> None:
    waiting = f"{found} seed files not yet ingested: one run requested" if found else "none"
    console.print(f"ready: seed folder watched and scanned (files waiting: {waiting})")


def _parse_day(value: str, option: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        err.print(f"[bold red]error:[/] {option} wants a date as YYYY-MM-DD, got {value!r}")
        raise typer.Exit(2) from None


def backfill(
    since: Annotated[str, typer.Option("--since", help="First publication day, YYYY-MM-DD.")],
    until: Annotated[
        str | None,
        typer.Option("--until", help="Last publication day, YYYY-MM-DD (default: --since)."),
    ] = None,
    domain: Annotated[
        list[str] | None, typer.Option("--domain", help="Only this site (repeatable).")
    ] = None,
    feed: Annotated[
        list[str] | None, typer.Option("--feed", help="Only articles of this feed (repeatable).")
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="reextract (stored HTML), refetch (failed items), sitemaps (URLs dated in "
            "the range) or rededup (dedup and enrichment again).",
        ),
    ] = "rededup",
    sitemap: Annotated[
        list[str] | None,
        typer.Option(
            "--sitemap",
            help="For --mode sitemaps: a sitemap or sitemap index URL to read (repeatable). "
            "Without it, each --domain's robots.txt Sitemap lines, else "
            "https://DOMAIN/sitemap.xml.",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Redo a stage for the articles published in a range of days; the same flow the
    Prefect UI's backfill deployment runs. Running it twice changes nothing.

    Example: newsflow backfill --mode sitemaps --since 2024-05-01 --until 2024-05-07
    --domain example.com"""
    from newsflow.flows.backfill import run_backfill
    from newsflow.flows.backfill_form import (
        BackfillMode,
        BackfillRejected,
        BackfillRequest,
        check_mode,
        check_sites,
    )

    if mode not in MODES:
        err.print(f"[bold red]error:[/] --mode must be one of {', '.join(MODES)}")
        raise typer.Exit(2)
    settings = command_settings(db)
    try:
        request = BackfillRequest.checked(
            since=_parse_day(since, "--since"),
            until=_parse_day(until, "--until") if until else None,
            domains=domain or [],
            feeds=feed or [],
            sitemaps=sitemap or [],
            mode=BackfillMode(mode),
        )
        check_mode(request.mode)
        check_sites(request, settings)
    except BackfillRejected as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    summary = run_flow(settings, "backfill", lambda: run_backfill(request, settings))
    print_summary(summary, settings.db)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("backfill")(backfill)

"""``newsflow server start|stop|status``: the local Prefect server that keeps every run.

Commands start it themselves when they need it; these manage it by hand. Its UI shows every
flow run, task and log; ``PREFECT_API_URL`` pointing at another server bypasses it.
"""

from __future__ import annotations

import typer

from newsflow.cli.common import DbOption, command_settings, console, fail
from newsflow.flows.runtime import ServerError, configured_api, prefect_home, start, status, stop


def server_start(db: DbOption = None) -> None:
    """Start the local Prefect server if it is not running, and say where its UI is."""
    settings = command_settings(db)
    home = prefect_home(settings.db)
    try:
        server = start(home, settings.prefect_port)
    except ServerError as exc:
        raise fail(str(exc), f"its log: {home / 'server.log'}") from exc
    console.print(f"local Prefect server running (pid {server.pid})")
    console.print(f"UI:  {server.url}")
    console.print(f"API: {server.api_url}   (PREFECT_HOME {home})")
    _note_configured()


def server_status(db: DbOption = None) -> None:
    """Whether the local Prefect server runs, and its UI and API addresses (exit 1 if not)."""
    settings = command_settings(db)
    server, line = status(prefect_home(settings.db))
    console.print(line)
    _note_configured()
    if server is None:
        raise typer.Exit(1)


def server_stop(db: DbOption = None) -> None:
    """Stop the local Prefect server (the runs it recorded are kept for its next start)."""
    settings = command_settings(db)
    console.print(stop(prefect_home(settings.db)))


def _note_configured() -> None:
    url = configured_api()
    if url:
        console.print(f"note: PREFECT_API_URL={url} is set, so commands report there instead")


def register(app: typer.Typer) -> None:
    server_app = typer.Typer(
        help="The local Prefect server (UI and API) that newsflow commands report to.",
        no_args_is_help=True,
    )
    server_app.command("start")(server_start)
    server_app.command("status")(server_status)
    server_app.command("stop")(server_stop)
    app.add_typer(server_app, name="server")

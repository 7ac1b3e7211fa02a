"""``newsflow deploy-pool``: the deployments for running on a Prefect work pool.

Prefect and the deployments are imported inside the command: ``main`` sets Prefect's defaults
in the environment first, and Prefect reads them at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsflow.cli.common import DbOption, console, fail


def deploy_pool(
    pool: Annotated[str, typer.Argument(help="The work pool (type process) workers poll.")],
    source: Annotated[
        str,
        typer.Option(
            help="Where workers find the code: this checkout's folder (the same path on every "
            "worker machine), a git URL or object storage."
        ),
    ] = str(Path(__file__).resolve().parents[2]),
    loader_pool: Annotated[
        str | None,
        typer.Option(
            help="A separate pool for load-spool, polled by one worker on the machine "
            "holding the warehouse (default: POOL)."
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Register ingest-seeds, ingest-feeds, ingest-urls and load-spool (concurrency 1) on a
    work pool; --db is the warehouse path the loader uses on its machine. Needs
    PREFECT_API_URL; workers then run `prefect worker start --pool POOL --type process` with
    NEWSFLOW_LOAD_IN_FLOW=false and a shared NEWSFLOW_SPOOL (see deploy/README.md)."""
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise fail(
            "no Prefect server configured",
            "start one (`prefect server start`) and set PREFECT_API_URL, e.g. "
            "http://127.0.0.1:4200/api",
        )
    from newsflow.deploy.pool import register

    try:
        ids = register(pool, source, loader_pool, db=db)
    except Exception as exc:
        raise fail(
            f"could not register the deployments: {exc}",
            f"does the work pool exist? `prefect work-pool create {pool} --type process`",
        ) from exc
    for name, deployment_id in ids.items():
        console.print(f"{name}  {deployment_id}")


def register(app: typer.Typer) -> None:
    app.command("deploy-pool")(deploy_pool)

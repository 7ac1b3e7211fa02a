"""The ``newsflow`` command line, assembled from its parts.

Exit status: 0 when the run completed (single rejected items are normal), 1 when the run
itself failed, 2 for a usage error, 130 when it was stopped (Ctrl-C, SIGTERM).

Each part (a module of this package) registers its commands on the app it is given; what
they share is in ``newsflow.cli.common``. The parts import the flows, the warehouse and
Prefect inside their commands, so ``newsflow --help`` stays fast.
"""

from __future__ import annotations

import typer

from newsflow import cancel
from newsflow.cli import (
    analyst,
    fetch,
    orchestrate,
    scale,
    seeds,
    server,
    upgrade,
    warehouse,
)
from newsflow.cli.common import operator_error
from newsflow.flows.runtime import quiet_prefect_defaults


def build_app() -> typer.Typer:
    """The command line: every part's commands, in the order ``--help`` lists them."""
    app = typer.Typer(
        name="newsflow",
        help="Ingest news from seed files, feeds and URLs into a DuckDB warehouse, with Prefect.",
        no_args_is_help=True,
        rich_markup_mode="rich",
        pretty_exceptions_enable=False,
    )
    seeds.register(app)
    warehouse.register(app)
    analyst.register(app)
    fetch.register(app)
    orchestrate.register(app)
    scale.register(app)
    server.register(app)
    upgrade.register(app)
    return app


app = build_app()


def main() -> None:
    quiet_prefect_defaults()
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C before a run's own handling (start-up): no traceback
        raise SystemExit(cancel.EXIT_CODE) from None
    except Exception as exc:  # the one place operator errors become a line and exit 2
        from newsflow.cli.operator_errors import describe  # only when something went wrong

        message = describe(exc)
        if message is None:
            raise
        operator_error(message)
        raise SystemExit(2) from None

"""The ``newsflow`` command line, assembled from its parts.

Exit status: 0 when the run completed (single rejected items are normal), 1 when the run
itself failed, 2 for a usage error, 130 when it was stopped (Ctrl-C, SIGTERM).

Each part (``cli_*``) registers its commands on the app it is given; what they share is in
``newsflow.cli_common``. The parts import the flows, the warehouse and Prefect inside their
commands, so ``newsflow --help`` stays fast.
"""

from __future__ import annotations

import typer

from newsflow import (
    cancel,
    cli_analyst,
    cli_fetch,
    cli_orchestrate,
    cli_scale,
    cli_seeds,
    cli_server,
    cli_warehouse,
)
from newsflow.cli_common import operator_error
from newsflow.runtime import quiet_prefect_defaults


def build_app() -> typer.Typer:
    """The command line: every part's commands, in the order ``--help`` lists them."""
    app = typer.Typer(
        name="newsflow",
        help="Ingest news from seed files, feeds and URLs into a DuckDB warehouse, with Prefect.",
        no_args_is_help=True,
        rich_markup_mode="rich",
        pretty_exceptions_enable=False,
    )
    cli_seeds.register(app)
    cli_warehouse.register(app)
    cli_analyst.register(app)
    cli_fetch.register(app)
    cli_orchestrate.register(app)
    cli_scale.register(app)
    cli_server.register(app)
    return app


app = build_app()


def main() -> None:
    quiet_prefect_defaults()
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C before a run's own handling (start-up): no traceback
        raise SystemExit(cancel.EXIT_CODE) from None
    except Exception as exc:  # the one place operator errors become a line and exit 2
        from newsflow.operator_errors import describe  # only when something went wrong

        message = describe(exc)
        if message is None:
            raise
        operator_error(message)
        raise SystemExit(2) from None


if __name__ == "__main__":  # `python -m newsflow.cli`
    main()

"""Where flows run: the Prefect API the CLI talks to.

With ``PREFECT_API_URL`` set, that server is used. Without it, Prefect would start a temporary
server of its own, whose shutdown prints CancelledError tracebacks into the user's terminal;
instead we start that same temporary server ourselves with its output going to a log file,
wait long enough for a first start's database migrations, and stop it quietly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STARTUP_TIMEOUT = 180
# Library loggers Prefect routes into the run log (their levels: flows/observe.py).
LIBRARY_LOGGERS = ("httpx", "httpcore", "trafilatura", "htmldate", "courlan", "feedparser")


def quiet_prefect_defaults() -> None:
    """Defaults for a command-line run, set before Prefect is imported; the user's own
    environment wins."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(STARTUP_TIMEOUT))
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", ",".join(LIBRARY_LOGGERS))


@contextmanager
def prefect_api(log_file: Path) -> Iterator[str]:
    """Yield the API URL flows report to, starting a temporary server if none is configured."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    from prefect.server.api.server import SubprocessASGIServer

    log_file.parent.mkdir(parents=True, exist_ok=True)
    server = SubprocessASGIServer()
    with open(log_file, "ab") as log:
        # The server process inherits our stdout/stderr: point them at the log while it starts.
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        try:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            server.start(timeout=STARTUP_TIMEOUT)
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        server.stop()

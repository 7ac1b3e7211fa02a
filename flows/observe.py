"""What runs tell the outside world: Prefect events per load, feed health events, and the
library loggers routed into the run log.

Events (one per run's load, never per article) that automations can hang on:

- ``newsflow.articles.loaded``: resource ``newsflow.run.<run id>``; payload the counts;
- ``newsflow.feed.quarantined`` / ``newsflow.feed.recovered``: resource ``newsflow.feed.<url>``.

Prefect attaches the flow run, flow and deployment as related resources. Events go to the
server in ``PREFECT_API_URL``; without one they go to the temporary server of the run.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from prefect.events import emit_event

from newsflow.runtime import LIBRARY_LOGGERS

if TYPE_CHECKING:
    from flows.common import RunSummary

ARTICLES_LOADED = "newsflow.articles.loaded"
FEED_QUARANTINED = "newsflow.feed.quarantined"
FEED_RECOVERED = "newsflow.feed.recovered"

# Third-party loggers whose records belong in the run log, and the least level kept: httpx
# logs every request at INFO (Prefect's own API calls among them), trafilatura and its
# helpers log per-page detail at INFO/DEBUG.
LIBRARY_LEVELS = dict.fromkeys(LIBRARY_LOGGERS, logging.WARNING)
EXTRA_LOGGERS_ENV = "PREFECT_LOGGING_EXTRA_LOGGERS"


def route_library_logs() -> None:
    """Set the library loggers' levels; Prefect attaches its run-log handler to the loggers
    named in ``PREFECT_LOGGING_EXTRA_LOGGERS`` (set by the CLI and ``newsflow serve`` before
    Prefect starts, inherited by every flow-run process)."""
    for name, level in LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(level)


def extra_loggers_value() -> str:
    return ",".join(LIBRARY_LOGGERS)


def set_extra_loggers_default() -> None:
    """Name the library loggers for Prefect, unless the user chose their own."""
    os.environ.setdefault(EXTRA_LOGGERS_ENV, extra_loggers_value())


def _emit(event: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
    try:
        emit_event(event, resource=resource, payload=payload)
    except Exception as exc:  # an event is a notification: never fail a run over one
        logging.getLogger(__name__).warning("could not emit %s: %s", event, exc)


def articles_loaded(summary: RunSummary) -> None:
    load = summary.load
    if not load.batches:
        return
    _emit(
        ARTICLES_LOADED,
        resource={
            "prefect.resource.id": f"newsflow.run.{summary.run_id}",
            "prefect.resource.name": f"{summary.flow} {summary.run_id}",
            "newsflow.flow": summary.flow,
        },
        payload={
            "run_id": summary.run_id,
            "flow": summary.flow,
            "items": summary.items,
            "loaded": load.loaded,
            "duplicates": load.duplicates,
            "updated": load.updated,
            "unchanged": load.unchanged,
            "revised": load.revised,
            "sightings": load.sightings,
            "rejected": load.rejects,
            "rejects_by_reason": dict(load.rejects_by_reason),
            "batches": load.batches,
        },
    )


def _feed_resource(url: str, name: str | None) -> dict[str, str]:
    resource = {"prefect.resource.id": f"newsflow.feed.{url}", "newsflow.feed.url": url}
    if name:
        resource["prefect.resource.name"] = name
    return resource


def feed_quarantined(
    url: str, failures: int, reason: str, name: str | None = None, run_id: str | None = None
) -> None:
    """A feed failed too often in a row and is polled less until it recovers."""
    _emit(
        FEED_QUARANTINED,
        _feed_resource(url, name),
        {"url": url, "consecutive_failures": failures, "reason": reason, "run_id": run_id},
    )


def feed_recovered(
    url: str, failures_before: int, name: str | None = None, run_id: str | None = None
) -> None:
    """A quarantined feed answered again."""
    _emit(
        FEED_RECOVERED,
        _feed_resource(url, name),
        {"url": url, "failures_before": failures_before, "run_id": run_id},
    )


def publish(summary: RunSummary) -> None:
    """Events for a finished run: its load, and feeds whose health changed state."""
    articles_loaded(summary)
    for feed in summary.feed_health:
        state = feed.get("state")
        if state == "quarantined":
            feed_quarantined(
                feed["url"],
                int(feed.get("failures") or 0),
                str(feed.get("reason") or ""),
                feed.get("name"),
                summary.run_id,
            )
        elif state == "recovered":
            feed_recovered(
                feed["url"],
                int(feed.get("failures_before") or 0),
                feed.get("name"),
                summary.run_id,
            )


route_library_logs()

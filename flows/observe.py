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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from newsflow.flows.runtime import LIBRARY_LOGGERS
from newsflow.flows.summary import RunSummary
from newsflow.settings import Settings
from newsflow.warehouse import storage
from newsflow.warehouse.queries import stored_feed_health

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
        from prefect.events import emit_event

        emit_event(event, resource=resource, payload=payload)
    except Exception as exc:  # an event is a notification: never fail a run over one
        logging.getLogger(__name__).warning("could not emit %s: %s", event, exc)


Emit = Callable[[str, dict[str, str], dict[str, Any]], None]


def articles_loaded(summary: RunSummary, emit: Emit | None = None) -> None:
    load = summary.load
    if not load.batches:
        return
    (emit or _emit)(
        ARTICLES_LOADED,
        {
            "prefect.resource.id": f"newsflow.run.{summary.run_id}",
            "prefect.resource.name": f"{summary.flow} {summary.run_id}",
            "newsflow.flow": summary.flow,
        },
        {
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
    url: str,
    failures: int,
    reason: str,
    name: str | None = None,
    run_id: str | None = None,
    until: str | None = None,
    emit: Emit | None = None,
) -> None:
    """A feed failed too often in a row (or is gone): not polled until ``until``."""
    (emit or _emit)(
        FEED_QUARANTINED,
        _feed_resource(url, name),
        {
            "url": url,
            "consecutive_failures": failures,
            "reason": reason,
            "quarantined_until": until,
            "run_id": run_id,
        },
    )


def feed_recovered(
    url: str, name: str | None = None, run_id: str | None = None, emit: Emit | None = None
) -> None:
    """A quarantined feed answered again (its re-probe succeeded)."""
    (emit or _emit)(FEED_RECOVERED, _feed_resource(url, name), {"url": url, "run_id": run_id})


OK_OUTCOMES = ("ok", "not_modified")


def feed_health_rows(
    states: list[Any], prior: dict[str, tuple[Any, ...]], skipped: list[str]
) -> list[dict[str, Any]]:
    """One row per feed of a poll run, before its load: what the poll saw, and whether the
    feed was quarantined before (``prior``: url -> (etag, last_modified, quarantined_until)).
    ``settle_feed_health`` completes them once the load has stored the new health."""
    rows = [
        {
            "url": state.url,
            "name": state.name,
            "status": state.status,
            "outcome": state.outcome,
            "reason": state.error or "",
            "was_quarantined": prior.get(state.url, (None, None, None))[2] is not None,
        }
        for state in states
    ]
    rows += [
        {"url": url, "outcome": "skipped", "was_quarantined": True, "reason": "quarantined"}
        for url in skipped
    ]
    return rows


def settle_feed_health(summary: RunSummary, settings: Settings) -> None:
    """Each feed's state after the load: ok, failing, quarantined or recovered; ``event`` is
    set where the state changed (newly quarantined, or answered again after quarantine)."""
    urls = [f["url"] for f in summary.feed_health]
    if not urls or not storage.exists(settings.db):
        return
    stored = stored_feed_health(settings.db, settings.lock_wait, urls)
    now = datetime.now(UTC)
    for feed in summary.feed_health:
        until, failures, error, name = stored.get(feed["url"], (None, 0, None, None))
        feed["name"] = feed.get("name") or name
        quarantined = until is not None and until > now
        feed["failures"] = failures or 0
        feed["reason"] = feed.get("reason") or error or ""
        feed["event"] = None
        if quarantined:
            feed["state"] = "quarantined"
            if not feed["was_quarantined"]:
                feed["event"] = "quarantined"
                feed["quarantined_until"] = until.isoformat()
        elif feed["was_quarantined"] and feed["outcome"] in OK_OUTCOMES:
            feed["state"] = feed["event"] = "recovered"
        else:
            feed["state"] = "ok" if feed["outcome"] in OK_OUTCOMES else "failing"


def publish(summary: RunSummary, settings: Settings, emit: Emit | None = None) -> None:
    """Events for a finished run: its load, and feeds whose health changed state; sent by
    ``emit`` (default: Prefect's events client of the flow run)."""
    articles_loaded(summary, emit)
    if summary.feed_health:
        try:
            settle_feed_health(summary, settings)
        except Exception as exc:  # health reporting must not fail the run
            logging.getLogger(__name__).warning("feed health not read: %s", exc)
    for feed in summary.feed_health:
        event = feed.get("event")
        if event == "quarantined":
            feed_quarantined(
                feed["url"],
                int(feed.get("failures") or 0),
                str(feed.get("reason") or ""),
                feed.get("name"),
                summary.run_id,
                feed.get("quarantined_until"),
                emit,
            )
        elif event == "recovered":
            feed_recovered(feed["url"], feed.get("name"), summary.run_id, emit)


route_library_logs()

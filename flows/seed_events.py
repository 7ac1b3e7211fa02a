"""Seed files that land in a watched folder: one Prefect event per file, one flow run per burst.

``newsflow serve`` watches the seed folder and emits ``newsflow.seed.created`` for every new
seed file. The ``seed-files`` deployment's trigger reacts to the first event of a burst and
schedules ``ingest-seed-batch`` ``window`` seconds later, ignoring the burst's later events
(Prefect's debounce: a reactive trigger with ``within`` plus ``schedule_after``). That run
then reads from the Prefect event store every seed event since the one that triggered it and
runs ``ingest-seeds`` once over those of the files the warehouse's seed-file ledger does not
hold yet (``seed_files``: path and content hash). Runs of the deployment go one at a time, so
a file announced twice (by an event and by serve's scan of the folder) is read once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.events import emit_event
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter
from prefect.logging import get_run_logger

from newsflow.flows.seeds import ingest_seeds
from newsflow.flows.summary import NoSeedFiles, RunSummary
from newsflow.settings import Settings
from newsflow.tasks import seedledger
from newsflow.warehouse import seedfiles

SEED_CREATED = "newsflow.seed.created"
FOLDER_LABEL = "newsflow.seed.folder"
# Files in a watched folder that are not seeds: configuration, and partial writes.
IGNORED_SUFFIXES = frozenset(
    {".toml", ".opml", ".md", ".json", ".yaml", ".yml", ".tmp", ".part", ".swp", ".crdownload"}
)
# The server's event persister writes events in batches at least this often (its default).
PERSIST_SECONDS = 5.0


def is_seed_file(path: Path, folder: Path) -> bool:
    """Whether a path in the watched folder is a seed file worth announcing."""
    try:
        rel = path.relative_to(folder)
    except ValueError:
        return False
    if any(part.startswith(".") for part in rel.parts) or path.name.endswith("~"):
        return False
    return path.suffix.lower() not in IGNORED_SUFFIXES and path.is_file()


def emit_seed_created(path: Path, folder: Path) -> Any:
    """One event for one new seed file (resource: the file; label: its watched folder)."""
    stat = path.stat()
    occurred = datetime.now(UTC)
    return emit_event(
        SEED_CREATED,
        resource={
            "prefect.resource.id": f"newsflow.seed.{path}",
            "prefect.resource.name": path.name,
            FOLDER_LABEL: str(folder),
        },
        occurred=occurred,
        payload={"path": str(path), "size": stat.st_size, "occurred": occurred.isoformat()},
    )


def announced_paths(folder: str, since: datetime, until: datetime) -> list[str]:
    """Paths of every seed event for ``folder`` that occurred in [since, until]."""
    query = EventFilter(
        occurred=EventOccurredFilter(since=since, until=until),
        event=EventNameFilter(name=[SEED_CREATED]),
    )
    paths: list[str] = []
    with get_client(sync_client=True) as client:
        page: Any = client.read_events(filter=query, limit=50)
        while True:
            for event in page.events:
                if event.resource.get(FOLDER_LABEL) == folder and "path" in event.payload:
                    paths.append(str(event.payload["path"]))
            if not page.next_page:
                break
            page = client.read_events_page(page.next_page)
    return paths


@flow(name="ingest-seed-batch", log_prints=True, retries=2, retry_delay_seconds=15)
def ingest_seed_batch(
    paths: list[str],
    folder: str | None = None,
    since: datetime | None = None,
    window_seconds: float = 10.0,
    settings: Settings | None = None,
) -> RunSummary | State[RunSummary] | NoSeedFiles:
    """Ingest the seed files announced in one burst of ``newsflow.seed.created`` events."""
    logger = get_run_logger()
    files = set(paths)
    if folder and since is not None:
        # The trigger ignored the burst's later events for ``window_seconds``: wait until the
        # server has stored them, then take every one since the triggering event.
        ready = since + timedelta(seconds=window_seconds + PERSIST_SECONDS + 1)
        time.sleep(max(0.0, (ready - datetime.now(UTC)).total_seconds()))
        found = announced_paths(folder, since - timedelta(seconds=1), datetime.now(UTC))
        files.update(found)
        logger.info("%d seed events since %s in %s", len(found), since.isoformat(), folder)
    existing = sorted(p for p in files if Path(p).is_file())
    gone = len(files) - len(existing)
    if gone:
        logger.warning("%d announced seed files are gone and were skipped", gone)
    settings = settings or Settings()
    fresh = not_ingested(existing, settings)
    if len(fresh) < len(existing):
        logger.info("%d seed files are in the ledger already", len(existing) - len(fresh))
    logger.info("ingesting %d seed files", len(fresh))
    if not fresh:
        return NoSeedFiles()
    return ingest_seeds(paths=fresh, settings=settings)


def not_ingested(paths: list[str], settings: Settings) -> list[str]:
    """The files whose current content the warehouse's seed-file ledger does not hold (a file
    that cannot be fingerprinted stays: reading it gives its ``rejects`` row)."""
    prints = {p: seedledger.fingerprint(Path(p), settings.seed_max_bytes) for p in paths}
    known = seedfiles.ingested(
        Path(settings.db), [f for f in prints.values() if f], wait=settings.lock_wait
    )
    return [p for p, found in prints.items() if found is None or found.key not in known]

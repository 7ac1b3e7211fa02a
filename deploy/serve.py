"""Every deployment newsflow serves, and the long-running process that serves them.

| deployment | flow | runs |
|---|---|---|
| ``seed-files`` | ingest-seed-batch | on ``newsflow.seed.created`` events, debounced into |
|  |  | batches, and for files serve's scan finds not yet ingested; one run at a time |
| ``backfill`` | backfill | when a person starts it from the UI (a form) or the API |
| ``loader`` | load-spool | every ``loader_minutes``; concurrency limit 1 (the single writer) |
| ``maintenance`` | maintenance | hourly: spool health; on a DuckLake warehouse also its |
|  |  | maintenance (files merged, snapshots past ``snapshot_days`` expired) |
| ``feeds-<tag>`` | ingest-feeds | every 30 minutes (or the group's ``poll_minutes``) per tag |
|  |  | group of the feeds file; never two runs of one group at once (a new one is |
|  |  | cancelled while one runs) |

Served deployments need a Prefect server that schedules (``prefect server start``): the
temporary server a plain flow run starts has no scheduler and no triggers.
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentEventTrigger
from prefect.events.schemas.automations import Posture
from prefect.types.entrypoint import EntrypointType

from newsflow.deploy.seedscan import SeedScanner, scan_loop
from newsflow.flows.backfill import backfill, deployment_schema
from newsflow.flows.maintenance import load_spool_flow, maintenance
from newsflow.flows.seed_events import (
    FOLDER_LABEL,
    SEED_CREATED,
    emit_seed_created,
    ingest_seed_batch,
)
from newsflow.tasks.seeds import DEFAULT_MAX_BYTES

log = logging.getLogger("newsflow.serve")

DEFAULT_FEED_MINUTES = 30.0
UNTAGGED = "untagged"


@dataclass
class ServeOptions:
    seed_dir: Path
    feeds_file: Path
    debounce_seconds: float = 10.0
    loader_minutes: float = 10.0
    maintenance_minutes: float = 60.0
    feed_minutes: float = DEFAULT_FEED_MINUTES
    # The warehouse whose seed-file ledger the folder scan reads (None: no scan).
    db: Path | None = None
    scan_seconds: float = 60.0
    lock_wait: float = 5.0
    seed_max_bytes: int = DEFAULT_MAX_BYTES

    @property
    def scan_grace(self) -> float:
        """Seconds a file announced by an event has to reach the ledger before a scan asks
        for it again: the debounce, the run's start and its load."""
        return max(60.0, 6 * self.debounce_seconds)

    @property
    def scan_settle(self) -> float:
        """Seconds a new file is left to the watcher's event before a scan takes it."""
        return 2 * self.debounce_seconds + 5


@dataclass
class FeedGroup:
    """Feeds polled together on one schedule: those whose first tag is ``name``."""

    name: str
    minutes: float
    urls: list[str] = field(default_factory=list)


MIN_POLL_MINUTES = 5.0


def feed_groups(feeds_file: Path, default_minutes: float = DEFAULT_FEED_MINUTES) -> list[FeedGroup]:
    """The feeds file's ``[[feeds]]`` grouped by their first tag (``untagged`` if none).

    A feed belongs to one group only, so a feed tagged ``["world", "en"]`` is polled once per
    interval, not once per tag. A group polls as often as its most eager feed asks
    (``poll_minutes``, at least 5), else every ``default_minutes``.
    """
    if not feeds_file.is_file():
        return []
    data = tomllib.loads(feeds_file.read_text(encoding="utf-8"))
    groups: dict[str, FeedGroup] = {}
    asked: dict[str, list[float]] = {}
    for entry in data.get("feeds", []):
        url = str(entry.get("url", "")).strip()
        if not url:
            continue
        tags = [str(t).strip() for t in entry.get("tags", []) if str(t).strip()]
        name = tags[0] if tags else UNTAGGED
        group = groups.setdefault(name, FeedGroup(name, default_minutes))
        if url not in group.urls:
            group.urls.append(url)
        if entry.get("poll_minutes") is not None:
            asked.setdefault(name, []).append(float(entry["poll_minutes"]))
    for name, minutes in asked.items():
        groups[name].minutes = max(MIN_POLL_MINUTES, min(minutes))
    return [groups[name] for name in sorted(groups)]


def seed_trigger(folder: Path, debounce_seconds: float) -> DeploymentEventTrigger:
    """React to the first seed event of a burst; run once ``debounce_seconds`` later."""
    window = timedelta(seconds=debounce_seconds)
    return DeploymentEventTrigger(
        name=f"newsflow seed files in {folder}",
        description="Ingests new seed files in batches (debounced).",
        expect={SEED_CREATED},
        match={FOLDER_LABEL: str(folder)},
        posture=Posture.Reactive,
        threshold=1,
        within=window,
        schedule_after=window,
        parameters={
            "paths": ["{{ event.payload.path }}"],
            "folder": str(folder),
            "since": "{{ event.payload.occurred }}",
            "window_seconds": debounce_seconds,
        },
    )


def _feed_deployments(options: ServeOptions) -> list[RunnerDeployment]:
    groups = feed_groups(options.feeds_file, options.feed_minutes)
    if not groups:
        return []
    try:
        from newsflow.flows.feeds import ingest_feeds  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log.warning("the feeds file has %d groups, but this version has no feed flow", len(groups))
        return []
    no_overlap = ConcurrencyLimitConfig(
        limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
    )
    deployments = []
    for group in groups:
        parameters: dict[str, Any] = {"feeds": group.urls, "feeds_file": str(options.feeds_file)}
        deployments.append(
            _deploy(
                ingest_feeds,
                name=f"feeds-{group.name}",
                interval=timedelta(minutes=group.minutes),
                parameters=parameters,
                concurrency_limit=no_overlap,
                tags=["newsflow", "feeds", group.name],
                description=f"Polls the {len(group.urls)} feeds of group {group.name!r}.",
            )
        )
    return deployments


def _deploy(flow: Any, **kwargs: Any) -> RunnerDeployment:
    """``flow.to_deployment`` (sync here; typed as possibly async by Prefect)."""
    deployment: RunnerDeployment = flow.to_deployment(
        entrypoint_type=EntrypointType.MODULE_PATH, **kwargs
    )
    return deployment


def _every(minutes: float, flow: Any, name: str, description: str) -> RunnerDeployment:
    """A deployment of ``flow`` on an interval, one run at a time, tagged with its name."""
    return _deploy(
        flow,
        name=name,
        interval=timedelta(minutes=minutes),
        concurrency_limit=1,
        tags=["newsflow", name],
        description=description,
    )


def _backfill_deployment() -> RunnerDeployment:
    deployment = _deploy(
        backfill,
        name="backfill",
        tags=["newsflow", "backfill"],
        description="Redo a stage for a range of days: start it from the UI (Run > Custom "
        "run) and fill in the form. Engine settings come from serve's environment.",
    )
    deployment._parameter_openapi_schema = deployment_schema(deployment._parameter_openapi_schema)
    return deployment


def build_deployments(options: ServeOptions) -> list[RunnerDeployment]:
    """Every deployment ``newsflow serve`` serves."""
    folder = options.seed_dir.resolve()
    return [
        _deploy(
            ingest_seed_batch,
            name="seed-files",
            triggers=[seed_trigger(folder, options.debounce_seconds)],
            # One at a time: a run checks the seed-file ledger before reading, so a file
            # announced twice (event and scan) is read once.
            concurrency_limit=1,
            tags=["newsflow", "seeds"],
            description=f"Ingests seed files dropped into {folder}, in debounced batches, "
            "and those the folder scan finds not yet ingested.",
        ),
        _backfill_deployment(),
        _every(
            options.loader_minutes,
            load_spool_flow,
            "loader",
            "Merges waiting spool batches into the warehouse; one at a time.",
        ),
        _every(
            options.maintenance_minutes,
            maintenance,
            "maintenance",
            "Spool health: waiting batches, abandoned partial batches removed; on a DuckLake "
            "warehouse, its maintenance: inlined rows flushed, small files merged, snapshots "
            "past NEWSFLOW_SNAPSHOT_DAYS expired, unused files deleted.",
        ),
        *_feed_deployments(options),
    ]


async def watch_seeds(
    folder: Path,
    stop: asyncio.Event,
    ready: asyncio.Event,
    scanner: SeedScanner | None = None,
) -> None:
    """Emit one ``newsflow.seed.created`` event per new or rewritten seed file."""
    from watchfiles import Change, awatch

    from newsflow.flows.seed_events import is_seed_file

    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    announced: dict[Path, tuple[int, int]] = {}
    ready.set()
    async for changes in awatch(folder, stop_event=stop, recursive=True):
        for change, name in sorted(changes, key=lambda c: c[1]):
            path = Path(name)
            if change == Change.deleted:
                announced.pop(path, None)
                continue
            if not is_seed_file(path, folder):
                continue
            stat = path.stat()
            key = (stat.st_mtime_ns, stat.st_size)
            if announced.get(path) == key:
                continue
            announced[path] = key
            emit_seed_created(path, folder)
            if scanner is not None:
                scanner.announced(path)
            log.info("seed file %s: event emitted", path)


async def serve_all(
    options: ServeOptions,
    deployments: list[RunnerDeployment],
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Serve the deployments and watch the seed folder until interrupted. ``on_ready`` is
    called once the watcher watches and the first scan is done, with the files it found."""
    from prefect.runner import Runner

    runner = Runner(name="newsflow", pause_on_shutdown=False)
    ids = {}
    for deployment in deployments:
        ids[deployment.name] = await runner.aadd_deployment(deployment)
    stop = asyncio.Event()
    ready = asyncio.Event()
    scanner = None
    if options.db is not None:
        scanner = SeedScanner(
            options.seed_dir,
            options.db,
            grace=options.scan_grace,
            settle=options.scan_settle,
            lock_wait=options.lock_wait,
            max_bytes=options.seed_max_bytes,
        )
    watcher = asyncio.create_task(watch_seeds(options.seed_dir, stop, ready, scanner))
    background = [watcher]
    # The watcher first, then the scan at start (a watcher that cannot start stops serve).
    ready_wait = asyncio.create_task(ready.wait())
    await asyncio.wait({watcher, ready_wait}, return_when=asyncio.FIRST_COMPLETED)
    if watcher.done():
        ready_wait.cancel()
        watcher.result()
    if scanner is not None:
        scan = scan_loop(scanner, ids["seed-files"], options.scan_seconds, stop, on_ready)
        background.append(asyncio.create_task(scan))
    elif on_ready is not None:
        on_ready(0)
    try:
        await runner.start()
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*background), timeout=10)

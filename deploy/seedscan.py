"""The seed folder's scan: the guarantee behind the watcher's events.

The watcher (``deploy/serve.py``) announces files as they land: the fast path. It sees nothing
while ``newsflow serve`` is down or starting, and an event can be lost, so serve also scans
the folder when it starts and every ``scan_seconds``: every seed file whose current content
(path and SHA-256) is not in the warehouse's ledger (``seed_files``) goes into one run of the
``seed-files`` deployment, tagged ``scan``. Hashes are cached by (mtime, size), so a scan of
an unchanged folder reads no file. A file written in the last ``settle`` seconds is left to
the watcher until a later scan. A file announced a moment ago (by the watcher or an
earlier scan) gets ``grace`` seconds to arrive in the ledger before it is asked for again, and
at most one scan run waits or runs at a time. The deployment's runs go one at a time and each
checks the ledger first, so a file seen by both paths is still read once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from newsflow.flows.seed_events import is_seed_file
from newsflow.tasks.records import SeedPrint
from newsflow.tasks.seedledger import fingerprint
from newsflow.tasks.seeds import DEFAULT_MAX_BYTES
from newsflow.warehouse.db import WarehouseLocked
from newsflow.warehouse.seedfiles import ingested

log = logging.getLogger("newsflow.serve")

SCAN_TAG = "scan"
_Stat = tuple[int, int]  # (mtime_ns, size)


class SeedScanner:
    """Which seed files of ``folder`` the warehouse at ``db`` has not ingested yet."""

    def __init__(
        self,
        folder: Path,
        db: Path,
        *,
        grace: float,
        settle: float = 0.0,
        lock_wait: float = 5.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.folder = folder.resolve()
        self.max_bytes = max_bytes
        self.db = db
        self.grace = grace
        self.settle = settle
        self.lock_wait = lock_wait
        self._prints: dict[Path, tuple[_Stat, SeedPrint | None]] = {}
        self._asked: dict[Path, tuple[_Stat, float]] = {}

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.rglob("*") if is_seed_file(p, self.folder))

    def announced(self, path: Path, now: float | None = None) -> None:
        """A run was asked for ``path`` as it is now (by an event or by a scan)."""
        key = _stat(path)
        if key is not None:
            self._asked[path.resolve()] = (key, time.monotonic() if now is None else now)

    def due(self, now: float | None = None) -> list[Path]:
        """Seed files whose content the ledger lacks and that no run was asked for within
        ``grace`` seconds. Raises ``WarehouseLocked`` if a writer holds the warehouse."""
        now = time.monotonic() if now is None else now
        newest = time.time_ns() - int(self.settle * 1e9)
        current: dict[Path, tuple[_Stat, SeedPrint | None]] = {}
        for path in self.files():
            key = _stat(path)
            if key is None or key[0] > newest:  # just written: the watcher's, for now
                continue
            cached = self._prints.get(path)
            current[path] = (
                cached if cached and cached[0] == key else (key, fingerprint(path, self.max_bytes))
            )
        self._prints = current  # forget files that are gone
        known = ingested(
            self.db, [found for _, found in current.values() if found], wait=self.lock_wait
        )
        due = []
        for path, (key, found) in current.items():
            if found is None or found.key in known:
                continue
            asked = self._asked.get(path)
            if asked and asked[0] == key and now - asked[1] < self.grace:
                continue
            due.append(path)
        return due


def _stat(path: Path) -> _Stat | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


async def _scan_run_waiting(client: Any, deployment_id: UUID, since: datetime) -> bool:
    """Whether a scan run of this serve (created after ``since``) is still to finish."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    runs = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[SCAN_TAG]),
            state=FlowRunFilterState(
                type=FlowRunFilterStateType(
                    any_=[StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
                )
            ),
            expected_start_time=FlowRunFilterExpectedStartTime(after_=since),
        ),
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        limit=1,
    )
    return bool(runs)


async def scan_once(scanner: SeedScanner, deployment_id: UUID, since: datetime) -> list[Path]:
    """One scan: ask for one run over the files due; returns them."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        if await _scan_run_waiting(client, deployment_id, since):
            return []
        due = await asyncio.to_thread(scanner.due)
        if not due:
            return []
        await client.create_flow_run_from_deployment(
            deployment_id,
            parameters={"paths": [str(p) for p in due], "folder": None},
            tags=[SCAN_TAG],
        )
    for path in due:
        scanner.announced(path)
    log.info("seed folder scan: %d files not yet ingested, run requested", len(due))
    return due


async def scan_loop(
    scanner: SeedScanner,
    deployment_id: UUID,
    every: float,
    stop: asyncio.Event,
    on_first: Callable[[int], None] | None = None,
) -> None:
    """Scan now, then every ``every`` seconds until ``stop``; ``on_first`` gets how many
    files the first scan found."""
    since = datetime.now(UTC)
    while not stop.is_set():
        due: list[Path] = []
        try:
            due = await scan_once(scanner, deployment_id, since)
        except WarehouseLocked as error:
            log.info("seed folder scan postponed: %s", error.holder)
        except Exception as error:  # the next scan tries again
            log.warning("seed folder scan failed: %s: %s", type(error).__name__, error)
        if on_first is not None:
            on_first(len(due))
            on_first = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)

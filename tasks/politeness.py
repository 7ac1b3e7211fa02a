"""Per-host politeness that holds across processes: concurrency slots and spacing.

Two flows fetching at once (a feed schedule and a backfill, say) must together stay within
``NEWSFLOW_PER_HOST_CONCURRENCY`` requests in flight to one host and start them at least
``NEWSFLOW_PER_HOST_DELAY`` seconds apart (a robots.txt Crawl-delay raises the delay). Both
are kept in small files beside the warehouse, under ``flock``: a host has N slot files (a
request holds one, locked) and a file holding the earliest time the next request may start.
Inside one process an asyncio semaphore queues requests first, so the file locks are only
contended between processes.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import re
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from newsflow.settings import Settings

_POLL = 0.02  # seconds between tries for a slot held by another process
_MAX_CRAWL_DELAY = 60.0  # a robots.txt asking for more is capped here
_SAFE = re.compile(r"[^a-z0-9.-]+")


def host_key(url: str) -> str:
    """Politeness is per host and port: ``example.com:443``."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host}:{port}"


def state_dir(settings: Settings) -> Path:
    """Where the host files live: beside the warehouse, shared by every flow using it."""
    return settings.db.parent / ".hosts"


class HostGate:
    """Hands out per-host turns: ``async with gate.slot(url): <one request>``."""

    def __init__(self, settings: Settings, folder: Path | None = None) -> None:
        self.concurrency = settings.per_host_concurrency
        self.delay = settings.per_host_delay
        self._dir = folder or state_dir(settings)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._delays: dict[str, float] = {}

    def set_crawl_delay(self, url: str, seconds: float) -> None:
        """A robots.txt Crawl-delay for the URL's host; only ever raises the delay."""
        self._delays[host_key(url)] = min(max(0.0, seconds), _MAX_CRAWL_DELAY)

    def delay_for(self, url: str) -> float:
        return max(self.delay, self._delays.get(host_key(url), 0.0))

    def defer(self, url: str, seconds: float) -> None:
        """Push the host's next turn back (a 429/503 with Retry-After)."""
        path = self._path(host_key(url), "next")
        with _locked(path) as fd:
            start = max(_read_time(fd), time.time() + seconds)
            _write_time(fd, start)

    def _path(self, host: str, suffix: str) -> Path:
        digest = hashlib.blake2b(host.encode(), digest_size=6).hexdigest()
        return self._dir / f"{_SAFE.sub('_', host)[:60]}-{digest}.{suffix}"

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        host = host_key(url)
        semaphore = self._semaphores.setdefault(host, asyncio.Semaphore(self.concurrency))
        async with semaphore:
            fd = await self._take_slot(host)
            try:
                await self._wait_turn(host, self.delay_for(url))
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    async def _take_slot(self, host: str) -> int:
        while True:
            for index in range(self.concurrency):
                fd = os.open(self._path(host, f"slot{index}"), os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    os.close(fd)
            await asyncio.sleep(_POLL)

    async def _wait_turn(self, host: str, delay: float) -> None:
        """Reserve the host's next start time and sleep until it."""
        path = self._path(host, "next")
        with _locked(path) as fd:
            now = time.time()
            start = max(now, _read_time(fd))
            _write_time(fd, start + delay)
        if start > now:
            await asyncio.sleep(start - now)


class _locked:
    """An exclusive flock on a small state file, held for a few microseconds."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1

    def __enter__(self) -> int:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self._fd

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _read_time(fd: int) -> float:
    data = os.pread(fd, 8, 0)
    return struct.unpack("<d", data)[0] if len(data) == 8 else 0.0


def _write_time(fd: int, value: float) -> None:
    os.pwrite(fd, struct.pack("<d", value), 0)

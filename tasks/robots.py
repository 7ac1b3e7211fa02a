"""robots.txt (RFC 9309), fetched with the one client, parsed with protego, cached a day.

Applied to article pages, not to feeds a user subscribed to. Per RFC 9309: a 4xx (no
robots.txt) allows everything; a 5xx, a 429 or an unreachable server (refused, DNS failure,
timeout, redirect loop) disallows everything for now. Pages refused that way are rejected as
``robots_unavailable`` with the cause in the detail, never as ``robots`` (a rule that
disallows them): an outage is not the publisher's policy. That verdict is kept only for this
run, so the next run (or ``backfill --mode refetch``) asks again. At most 500 KiB is read. A
Crawl-delay raises the host's spacing in the politeness gate.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from protego import Protego

from newsflow.settings import Settings
from newsflow.tasks.errors import FetchRefused, TransientError
from newsflow.tasks.http import fetch
from newsflow.tasks.politeness import HostGate

AGENT = "newsflow"  # the product token robots.txt groups are matched against
MAX_ROBOTS_BYTES = 500 * 1024
CACHE_SECONDS = 24 * 3600
_ALLOW_ALL = ""
_DISALLOW_ALL = "User-agent: *\nDisallow: /\n"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


class RobotsCache:
    """``await robots.check(url)``: one robots.txt fetch per host a day, shared on disk."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        gate: HostGate,
        folder: Path | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._gate = gate
        self._dir = folder or settings.db.parent / ".robots"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._parsed: dict[str, Protego] = {}
        # why robots.txt could not be fetched, by origin (this run only)
        self._unavailable: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def check(self, url: str) -> None:
        """Pass if ``url`` may be fetched; else ``FetchRefused``: ``robots`` when a rule
        disallows it, ``robots_unavailable`` (with the cause) when robots.txt could not be
        fetched."""
        rules = await self.rules(url)
        if rules.can_fetch(url, AGENT):
            return
        cause = self._unavailable.get(origin(url))
        if cause is not None:
            raise FetchRefused(
                url,
                f"robots.txt could not be fetched ({cause}); not fetched, per RFC 9309",
                reason="robots_unavailable",
            )
        raise FetchRefused(url, "disallowed by robots.txt", reason="robots")

    async def rules(self, url: str) -> Protego:
        key = origin(url)
        if key in self._parsed:
            return self._parsed[key]
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key not in self._parsed:
                text = self._cached(key)
                if text is None:
                    text, keep = await self._download(key)
                    if keep:
                        self._store(key, text)
                rules = Protego.parse(text)
                delay = rules.crawl_delay(AGENT)
                if delay:
                    self._gate.set_crawl_delay(url, float(delay))
                self._parsed[key] = rules
        return self._parsed[key]

    async def _download(self, key: str) -> tuple[str, bool]:
        """The robots.txt text to apply and whether it may be cached for a day; when it
        cannot be fetched, disallow-all (not cached) and the cause in ``_unavailable``."""
        try:
            resp = await fetch(
                self._client,
                f"{key}/robots.txt",
                self._settings,
                max_bytes=MAX_ROBOTS_BYTES,
                truncate=True,
                guard=self._gate.slot,
            )
        except FetchRefused as error:
            if error.reason == "blocked_private":
                raise  # the page's host itself may not be fetched: say so, not "robots"
            if error.reason.startswith("http_4"):
                return _ALLOW_ALL, True
            # a bad redirect, a redirect loop: unreachable for us
            self._unavailable[key] = f"{error.reason}: {error.detail}"[:300]
            return _DISALLOW_ALL, False
        except TransientError as error:  # 5xx, 429, refused, DNS failure, timeout
            self._unavailable[key] = f"{error.reason}: {error.detail}"[:300]
            return _DISALLOW_ALL, False
        return resp.body.decode("utf-8", errors="replace"), True

    def _file(self, key: str) -> Path:
        return self._dir / (hashlib.blake2b(key.encode(), digest_size=10).hexdigest() + ".txt")

    def _cached(self, key: str) -> str | None:
        path = self._file(key)
        try:
            if time.time() - path.stat().st_mtime < CACHE_SECONDS:
                return path.read_text(encoding="utf-8")
        except OSError:
            return None
        return None

    def _store(self, key: str, text: str) -> None:
        path = self._file(key)
        tmp = path.with_suffix(f".{time.time_ns()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)

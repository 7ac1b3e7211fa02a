"""The fetcher: HTTP policy for one task's requests.

One client (``tasks.http.make_client``), the per-host politeness gate and the robots cache:
article pages (robots, politeness, retries, ``not_html``), other crawled resources (a
sitemap) and feeds (conditional GET; robots does not apply).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from newsflow.settings import Settings
from newsflow.tasks.decoding import check_html
from newsflow.tasks.hosttimes import HostTimes, timed
from newsflow.tasks.http import Response, fetch_retrying, make_client
from newsflow.tasks.politeness import HostGate
from newsflow.tasks.robots import RobotsCache

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


class Ticket:
    """One place among the pages being fetched or held for extraction."""

    def __init__(self, places: asyncio.Semaphore) -> None:
        self._places = places
        self._held = False

    async def take(self) -> None:
        if not self._held:
            await self._places.acquire()
            self._held = True

    def release(self) -> None:
        if self._held:
            self._places.release()
            self._held = False


class Fetcher:
    """One client, politeness gate and robots cache for the fetches of one task."""

    def __init__(
        self,
        settings: Settings,
        *,
        respect_robots: bool | None = None,
        timings: HostTimes | None = None,
    ) -> None:
        self.settings = settings
        self.respect_robots = settings.respect_robots if respect_robots is None else respect_robots
        self.client = make_client(settings)
        self.gate = HostGate(settings)
        self.robots = RobotsCache(self.client, settings, self.gate)
        # every hop's time on the network, per host (the run summary's slowest hosts)
        self.timings: HostTimes = {} if timings is None else timings

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    @asynccontextmanager
    async def _page_hop(self, url: str, ticket: Ticket | None) -> AsyncIterator[None]:
        # robots first and outside the host slot: its own fetch needs a slot of that host
        if self.respect_robots:
            await self.robots.check(url)  # robots, or robots_unavailable (RFC 9309)
        async with self.gate.slot(url):
            if ticket is not None:
                await ticket.take()  # only once the host is ours: no host idles meanwhile
            with timed(self.timings, url):
                yield

    @asynccontextmanager
    async def _feed_hop(self, url: str) -> AsyncIterator[None]:
        async with self.gate.slot(url):
            with timed(self.timings, url):
                yield

    async def page(self, url: str, ticket: Ticket | None = None) -> Response:
        """An article page (robots, politeness, retries); ``not_html`` if it is not HTML.

        ``ticket`` is taken when the first request may go and kept by the caller (it bounds
        requests in flight plus pages held in memory)."""
        resp = await fetch_retrying(
            self.client,
            url,
            self.settings,
            headers={"Accept": PAGE_ACCEPT},
            guard=lambda hop: self._page_hop(hop, ticket),
            on_retry_after=self.gate.defer,
        )
        check_html(resp.content_type, resp.body, url)
        return resp

    async def resource(self, url: str) -> Response:
        """Any other crawled resource (a sitemap): robots, politeness, retries."""
        return await fetch_retrying(
            self.client,
            url,
            self.settings,
            guard=lambda hop: self._page_hop(hop, None),
            on_retry_after=self.gate.defer,
        )

    async def feed(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> Response:
        """A feed the user subscribed to (conditional GET; robots does not apply)."""
        headers = {"Accept": FEED_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return await fetch_retrying(
            self.client,
            url,
            self.settings,
            headers=headers,
            guard=self._feed_hop,
            on_retry_after=self.gate.defer,
        )

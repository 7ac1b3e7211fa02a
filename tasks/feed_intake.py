"""Feed intake: polling subscribed feeds (conditional GET) into their state, entries and
rejects."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from newsflow import cancel, progress
from newsflow.settings import Settings
from newsflow.tasks.errors import NewsflowError, item_error
from newsflow.tasks.feeds import ParsedFeed, classify_failure, parse_feed
from newsflow.tasks.fetcher import Fetcher
from newsflow.tasks.hosttimes import HostTimes
from newsflow.tasks.records import FeedState, RejectRow


@dataclasses.dataclass(slots=True)
class FeedPoll:
    state: FeedState
    parsed: ParsedFeed | None = None
    reject: RejectRow | None = None


async def poll_feeds(
    feeds: list[tuple[str, str | None, str | None, str | None]],
    settings: Settings,
    run_id: str,
    *,
    now: datetime | None = None,
    timings: HostTimes | None = None,
) -> list[FeedPoll]:
    """Poll feeds given as (url, name, etag, last_modified): state, entries, or a reject.
    Request times per host are added to ``timings`` when given."""
    now = now or datetime.now(UTC)
    in_flight = asyncio.Semaphore(settings.fetch_concurrency)

    def failed(url: str, name: str | None, polled: datetime, error: NewsflowError) -> FeedPoll:
        state = FeedState(url, polled, classify_failure(error.reason), name=name)
        state.error = f"{error.reason}: {error.detail}"[:500]
        state.status = int(error.reason[5:]) if error.reason[5:].isdigit() else None
        return FeedPoll(
            state, None, RejectRow(url, "feed", error.reason, error.detail, run_id, now)
        )

    async def one(
        fetcher: Fetcher, url: str, name: str | None, etag: str | None, modified: str | None
    ) -> FeedPoll | None:
        async with in_flight:
            polled = datetime.now(UTC)
            if cancel.requested():  # stopping: not polled; its validators stay as they were
                return None
            try:
                resp = await fetcher.feed(url, etag, modified)
            except Exception as exc:  # one feed's problem, whatever it is, is only its own
                return failed(url, name, polled, item_error(exc, url))
            finally:
                progress.advance("feeds", 1)
            validators = (resp.headers.get("etag"), resp.headers.get("last-modified"))
            if resp.status == 304:
                return FeedPoll(
                    FeedState(url, polled, "not_modified", name, None, 304, *validators)
                )
            try:
                parsed = await asyncio.to_thread(
                    parse_feed, resp.body, resp.final_url, resp.content_type
                )
            except Exception as exc:  # no validators kept: the next poll reads it again
                poll = failed(url, name, polled, item_error(exc, url))
                poll.state.status = resp.status
                return poll
            state = FeedState(url, polled, "ok", name, parsed.title, resp.status, *validators)
            state.entries = len(parsed.entries)
            state.error = parsed.error
            if not parsed.entries and parsed.error:
                state.outcome = "hard" if parsed.error == "not a feed" else "soft"
                reason = "not_a_feed" if parsed.error == "not a feed" else "parse_error"
                reject = RejectRow(url, "feed", reason, parsed.error, run_id, now)
                return FeedPoll(state, parsed, reject)
            return FeedPoll(state, parsed)

    async with Fetcher(settings, timings=timings) as fetcher:
        polls = await asyncio.gather(*(one(fetcher, *feed) for feed in feeds))
    return [p for p in polls if p is not None]

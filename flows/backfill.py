"""Flow ``backfill``: redo a stage for a range of publication days.

Launched from the Prefect UI (deployment ``backfill``, whose form is ``BackfillRequest``) or
locally with ``newsflow backfill``. The range fans out into one task per day; each day's work
is idempotent (it recomputes from what is stored and the loader applies only differences),
so running the same backfill twice changes nothing the second time.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path

from prefect import flow, task
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flows.common import RunSummary, bounded_map, current_run_id, finish
from newsflow import progress
from newsflow.settings import Settings
from tasks import rededup
from tasks.errors import retry_transient
from tasks.records import Batch
from tasks.spool import write_batch

MAX_DAYS = 366


class BackfillMode(StrEnum):
    """What to redo for the articles of each day."""

    reextract = "reextract"
    refetch = "refetch"
    sitemaps = "sitemaps"
    rededup = "rededup"


MODE_HELP = {
    BackfillMode.reextract: "re-extract the stored HTML of the day's articles",
    BackfillMode.refetch: "fetch again the URLs that failed (rejects) on the days of the range "
    "and are still not loaded",
    BackfillMode.sitemaps: "read the sites' sitemaps for URLs dated in the range",
    BackfillMode.rededup: "recompute dedup and enrichment from the stored article text",
}
# Modes whose stages this version has; the others fail clearly instead of pretending.
AVAILABLE_MODES = frozenset({BackfillMode.rededup, BackfillMode.refetch})


class ModeNotAvailable(ValueError):
    """The requested mode needs a stage this installation does not have."""

    def __init__(self, mode: BackfillMode) -> None:
        available = ", ".join(sorted(m.value for m in AVAILABLE_MODES))
        super().__init__(
            f"backfill mode {mode.value!r} ({MODE_HELP[mode]}) is not available in this "
            f"version; available: {available}"
        )
        self.mode = mode


class BackfillRequest(BaseModel):
    """A backfill: which days, which articles, and what to redo for them."""

    model_config = ConfigDict(title="Backfill", extra="forbid", use_enum_values=False)

    since: date = Field(
        title="First day",
        description="First day to backfill (UTC), included: the day articles were published "
        "(rededup, reextract, sitemaps) or the day items failed (refetch).",
    )
    until: date | None = Field(
        default=None,
        title="Last day",
        description="Last day to backfill (UTC), included. Empty: the first day only.",
    )
    domains: list[str] = Field(
        default_factory=list,
        title="Domains",
        description="Only articles of these sites, e.g. bbc.co.uk (www. and paths are ignored). "
        "Empty: every site.",
    )
    feeds: list[str] = Field(
        default_factory=list,
        title="Feeds",
        description="Only articles seen in these feeds (feed URLs); not for refetch. "
        "Empty: from any source.",
    )
    mode: BackfillMode = Field(
        default=BackfillMode.rededup,
        title="Mode",
        description="What to redo: "
        + "; ".join(f"{m.value}: {text}" for m, text in MODE_HELP.items())
        + ". The default, rededup, reads no network.",
    )

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return sorted({rededup.normalize_domain(d) for d in value if d.strip()})

    @field_validator("feeds")
    @classmethod
    def _feeds(cls, value: list[str]) -> list[str]:
        return sorted({f.strip() for f in value if f.strip()})

    @model_validator(mode="after")
    def _range(self) -> BackfillRequest:
        if self.feeds and self.mode is BackfillMode.refetch:
            raise ValueError("refetch selects failed URLs by domain; feeds do not apply to it")
        last = self.until or self.since
        if last < self.since:
            raise ValueError(f"the last day ({last}) is before the first ({self.since})")
        if (last - self.since).days + 1 > MAX_DAYS:
            raise ValueError(f"at most {MAX_DAYS} days per backfill; split the range")
        return self

    def days(self) -> list[date]:
        last = self.until or self.since
        return [self.since + timedelta(days=n) for n in range((last - self.since).days + 1)]


def check_mode(mode: BackfillMode) -> None:
    if mode not in AVAILABLE_MODES:
        raise ModeNotAvailable(mode)


@task(
    name="rededup-day",
    task_run_name="rededup-{day}",
    retries=2,
    retry_condition_fn=retry_transient,
)
def rededup_day(
    day: date, domains: list[str], feeds: list[str], run_id: str, settings: Settings
) -> int:
    """One day's articles: recompute, spool the revisions; returns the articles considered."""
    from warehouse.db import connect_reader

    db = Path(settings.db)
    if not db.exists():
        return 0
    con = connect_reader(db, wait=settings.lock_wait)
    try:
        stored = rededup.select_day(con, day, domains, feeds)
    finally:
        con.close()
    size = settings.batch_size
    for i in range(0, len(stored), size):
        table = rededup.revise(stored[i : i + size])
        write_batch(Batch(run_id=run_id), settings.spool, extra={rededup.REVISIONS: table})
    return len(stored)


@task(
    name="refetch-day",
    task_run_name="refetch-{day}",
    retries=1,
    retry_condition_fn=retry_transient,
)
def refetch_day(day: date, domains: list[str], run_id: str, settings: Settings) -> int:
    """One day's failed URLs, fetched again; returns how many were tried."""
    from datetime import UTC, datetime

    from tasks.fetch import fetch_and_process
    from tasks.records import Candidate
    from warehouse.db import connect_reader

    db = Path(settings.db)
    if not db.exists():
        return 0
    con = connect_reader(db, wait=settings.lock_wait)
    try:
        urls = rededup.select_failed(con, day, domains)
    finally:
        con.close()
    size = settings.batch_size
    for i in range(0, len(urls), size):
        now = datetime.now(UTC)
        items = [Candidate(origin="url", source=u, url=u, seen_at=now) for u in urls[i : i + size]]
        write_batch(fetch_and_process(items, settings, run_id, now=now), settings.spool)
    return len(urls)


@flow(name="backfill", log_prints=True)
def backfill(request: BackfillRequest, settings: Settings | None = None) -> dict:
    """Redo a stage for the articles published in a range of days (see the form's fields)."""
    settings = settings or Settings()
    check_mode(request.mode)
    logger = get_run_logger()
    days = request.days()
    logger.info(
        "backfill %s: %s to %s (%d days), domains=%s feeds=%s",
        request.mode.value,
        days[0],
        days[-1],
        len(days),
        request.domains or "all",
        request.feeds or "all",
    )
    summary = RunSummary(run_id=current_run_id(), flow="backfill")
    progress.advance("days", 0, len(days))
    if request.mode is BackfillMode.refetch:
        # Fetching is network-bound and already concurrent and polite per host inside a day;
        # the days run one after another.
        for day in days:
            summary.items += refetch_day(day, request.domains, summary.run_id, settings)
            progress.advance("days", 1)
        return finish(summary, settings).as_dict()
    # Days run as concurrent tasks, a bounded window at once (threads: a day's work is small
    # and a process pool's start would cost more than it saves for most ranges).
    for _day, considered in bounded_map(
        rededup_day,
        days,
        settings.parallelism,
        domains=request.domains,
        feeds=request.feeds,
        run_id=summary.run_id,
        settings=settings,
    ):
        summary.items += considered
        progress.advance("days", 1)
    return finish(summary, settings).as_dict()

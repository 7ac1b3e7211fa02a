"""Spooling a fetch's processed pages in parts while the fetch goes on.

Pages per part: the loader merges a part while the next ones are fetched, so a run's rows
arrive as it goes and a crash loses at most the parts not yet written. Each part is a load
with its fixed costs: on 300 loopback pages (CPU-bound on 2 cores) parts of 100 or 250 gave
no faster end-to-end run than one batch (bench_end_to_end), so parts are not small.
"""

from __future__ import annotations

import asyncio

from newsflow.tasks.exact_duplicates import dedupe_batch
from newsflow.tasks.records import Batch
from newsflow.tasks.spool import write_batch

SPOOL_EVERY = 250


def take_rows(batch: Batch) -> Batch:
    """Move ``batch``'s rows (not its rejects) into a new batch; ``batch`` keeps the rejects."""
    part = Batch(
        batch.run_id,
        articles=batch.articles,
        comments=batch.comments,
        sightings=batch.sightings,
        notes=batch.notes,
        raw_pages=batch.raw_pages,
    )
    batch.articles, batch.comments, batch.sightings = [], [], []
    batch.notes, batch.raw_pages = [], []
    return part


class PartSpooler:
    """Gathers processed pages into one batch; with a ``spool``, every ``SPOOL_EVERY`` pages
    are written there as a deduplicated part of their own as soon as they are ready."""

    def __init__(self, run_id: str, spool: str | None = None) -> None:
        self.batch = Batch(run_id=run_id)
        self.spool = spool

    async def add(self, processed: Batch) -> None:
        self.batch.extend(processed)
        if self.spool is not None and len(self.batch.raw_pages) >= SPOOL_EVERY:
            part = dedupe_batch(take_rows(self.batch))
            # in a thread: the event loop keeps fetching while the part is written
            await asyncio.to_thread(write_batch, part, self.spool)

    def rest(self) -> Batch:
        """What was not spooled (and every reject), deduplicated."""
        return dedupe_batch(self.batch)

"""Candidates with text -> one deduplicated batch of rows and rejects."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from tasks.articles import build_rows
from tasks.dedupe import dedupe_batch
from tasks.errors import NewsflowError
from tasks.records import Batch, Candidate, RejectRow


def reject_row(error: NewsflowError, stage: str, run_id: str, now: datetime) -> RejectRow:
    return RejectRow(error.item, stage, error.reason, error.detail, run_id, now)


def process_candidates(
    candidates: Iterable[Candidate], run_id: str, *, now: datetime | None = None
) -> Batch:
    """Rows for every candidate that has text; a reject for every one that fails."""
    now = now or datetime.now(UTC)
    batch = Batch(run_id=run_id)
    for candidate in candidates:
        try:
            batch.extend(build_rows(candidate, run_id, now))
        except NewsflowError as error:
            batch.rejects.append(reject_row(error, "process", run_id, now))
    return dedupe_batch(batch)

"""Candidates with text -> one deduplicated batch of rows and rejects."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from newsflow.tasks.articles import build_rows, text_from_page
from newsflow.tasks.errors import NewsflowError, item_error
from newsflow.tasks.exact_duplicates import dedupe_batch
from newsflow.tasks.normalize import article_id, canonical_url
from newsflow.tasks.raw_pages import raw_page
from newsflow.tasks.records import Batch, Candidate, RejectRow


def reject_row(error: NewsflowError, stage: str, run_id: str, now: datetime) -> RejectRow:
    return RejectRow(error.item, stage, error.reason, error.detail, run_id, now)


def process_candidates(
    candidates: Iterable[Candidate], run_id: str, *, now: datetime | None = None
) -> Batch:
    """Rows for every candidate that has text or HTML; a reject for every one that fails.

    A candidate with ``html`` and no ``text`` is extracted first (so call this in a worker
    process, never a thread); its HTML is kept, compressed, as a ``raw_pages`` row.
    """
    now = now or datetime.now(UTC)
    batch = Batch(run_id=run_id)
    for candidate in candidates:
        stage = "process"
        try:
            if candidate.html is not None:
                aid = article_id(canonical_url(candidate.canonical or candidate.url))
                batch.raw_pages.append(raw_page(candidate, aid, now))
                if candidate.text is None:
                    stage = "extract"
                    candidate = text_from_page(candidate)
                    stage = "process"
            batch.extend(build_rows(candidate, run_id, now))
        except Exception as exc:  # one candidate's problem, whatever it is, is only its own
            batch.rejects.append(reject_row(item_error(exc, candidate.source), stage, run_id, now))
    return dedupe_batch(batch)

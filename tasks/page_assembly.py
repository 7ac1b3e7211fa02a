"""Page assembly: a fetched page and what extraction found -> the candidate ``build_rows``
takes, or, in a worker, the page's processed batch."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from newsflow.tasks.articles import merge_page, wall_candidate
from newsflow.tasks.enrich import registered_domain
from newsflow.tasks.errors import item_error
from newsflow.tasks.extract import Extracted
from newsflow.tasks.extraction_pool import Failed, extract_job
from newsflow.tasks.http import Response
from newsflow.tasks.normalize import is_http_url
from newsflow.tasks.process import process_candidates
from newsflow.tasks.records import Batch, Candidate, RejectRow


def same_site(a: str, b: str) -> bool:
    return registered_domain(a) == registered_domain(b)


def page_candidate(item: Candidate, resp: Response, html: str, ex: Extracted) -> Candidate:
    """A fetched page and what extraction found -> the candidate ``build_rows`` takes."""
    return extracted_candidate(item, resp.final_url, html, ex, datetime.now(UTC))


def extracted_candidate(
    item: Candidate, final_url: str, html: str, ex: Extracted, fetched_at: datetime
) -> Candidate:
    """``item`` with its page's text and HTML; the page's own canonical URL when it is on the
    same site as the page (a page cannot claim another site's URL)."""
    canonical = final_url
    found = getattr(ex, "canonical_url", None)
    if found and is_http_url(found) and same_site(found, final_url):
        canonical = found
    candidate = dataclasses.replace(
        item, text=ex.text, html=html, canonical=canonical, fetched_at=fetched_at
    )
    return merge_page(candidate, ex)  # the same enrichment as every other path


def assemble(
    item: Candidate, final_url: str, html: str, found: Extracted | Failed, fetched_at: datetime
) -> Candidate | Failed:
    """The candidate for a fetched page, or why it has none. A consent or challenge page
    (a wall) keeps the item's feed summary as its candidate."""
    if not isinstance(found, Failed):
        return extracted_candidate(item, final_url, html, found, fetched_at)
    walled = wall_candidate(item, found.reason)
    if walled is None:
        return found
    walled.html, walled.canonical, walled.fetched_at = html, final_url, fetched_at
    return walled


def page_job(
    item: Candidate, fetched_at: datetime, run_id: str, now: datetime, html: str, url: str
) -> Batch | Failed:
    """Runs in a worker: a fetched page -> its Batch with the article's rows, its raw page
    (compressed here, so only compressed HTML travels back) and any reject; or ``Failed``
    if extraction failed. Doing the processing here too keeps both cores busy while pages
    arrive, instead of a serial pass over the batch after."""
    candidate = assemble(item, url, html, extract_job(html, url), fetched_at)
    if isinstance(candidate, Failed):
        return candidate
    try:
        return process_candidates([candidate], run_id, now=now)
    except Exception as exc:  # a bug in processing must not lose the item
        error = item_error(exc, item.url)
        reject = RejectRow(item.url, "process", error.reason, error.detail, run_id, now)
        return Batch(run_id=run_id, rejects=[reject])

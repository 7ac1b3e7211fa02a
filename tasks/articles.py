"""Candidate with clean text -> the rows the warehouse stores for it.

The candidate's text is already article text (a seed body, or what extraction produced);
this stage only normalizes, identifies and enriches it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from newsflow.tasks.enrich import (
    access_status,
    detect_language,
    normalize_authors,
    registered_domain,
)
from newsflow.tasks.errors import BadInput
from newsflow.tasks.extract import EXTRACTOR_VERSION, Extracted, extract
from newsflow.tasks.near_duplicates import WORD, distinct, shingle_hashes, signature
from newsflow.tasks.normalize import (
    article_id,
    canonical_url,
    hash_words,
    normalize_text,
    word_count,
)
from newsflow.tasks.records import (
    ArticleRow,
    Batch,
    Candidate,
    CommentRow,
    DateClaim,
    Note,
    NoteRow,
    SightingRow,
)

# Date reconciliation. Each source's claims are "published" or "modified" dates; the rule:
# 1. Refuse impossible claims: before WEB_EPOCH (no web page is older) or more than
#    FUTURE_SLACK after processing time (allows for time zones and clock skew). A refused
#    claim is reported in a ``bad_date`` note, never stored.
# 2. published_at = the valid "published" claim of the most trusted source, in the order of
#    DATE_SOURCE_PRIORITY: the seed file's own date; the page's structured data (JSON-LD, then
#    Open Graph/meta), which the publisher writes for machines; the feed entry; a <time>
#    element; htmldate's reading of the page; a date in the URL (day precision at best).
# 3. modified_at = the most trusted valid "modified" claim that is not before published_at
#    (an earlier "modified" date is a template artefact and is dropped); NULL if none.
# The source of each stored date is kept (published_source, modified_source).
DATE_SOURCE_PRIORITY = ("seed", "jsonld", "meta", "feed", "time", "htmldate", "url")
WEB_EPOCH = datetime(1991, 8, 6, tzinfo=UTC)  # the first public web page
FUTURE_SLACK = timedelta(days=1)


def _rank(claim: DateClaim) -> int:
    try:
        return DATE_SOURCE_PRIORITY.index(claim.source)
    except ValueError:
        return len(DATE_SOURCE_PRIORITY)


def valid_date(claim: DateClaim, now: datetime) -> bool:
    """Not before the web existed, not (beyond a day's slack) in the future."""
    value = claim.value if claim.value.tzinfo else claim.value.replace(tzinfo=UTC)
    return WEB_EPOCH <= value <= now + FUTURE_SLACK


def pick_date(
    claims: list[DateClaim], kind: str = "published", now: datetime | None = None
) -> DateClaim | None:
    """The most trusted valid claim of that kind (see the rule above)."""
    now = now or datetime.now(UTC)
    ranked = [c for c in claims if c.kind == kind and valid_date(c, now)]
    return min(ranked, key=_rank) if ranked else None


@dataclass(frozen=True, slots=True)
class Dates:
    published: DateClaim | None
    modified: DateClaim | None
    refused: list[DateClaim]


def reconcile_dates(claims: list[DateClaim], now: datetime) -> Dates:
    """published and modified dates with their sources, and the refused claims."""
    published = pick_date(claims, "published", now)
    modified = pick_date(
        [c for c in claims if published is None or c.value >= published.value], "modified", now
    )
    refused = [c for c in claims if not valid_date(c, now)]
    return Dates(published, modified, refused)


WALLS = ("consent_wall", "bot_challenge")


def text_from_page(candidate: Candidate) -> Candidate:
    """Fill a fetched candidate's text and metadata from its ``html`` (in a worker process).

    A consent wall or bot challenge is never stored as the article: the feed summary becomes
    the text, with that access status; without a summary the page is rejected
    (``consent_wall`` / ``bot_challenge``). Other extraction failures raise ``BadInput``.
    """
    assert candidate.html is not None
    try:
        page = extract(candidate.html, candidate.url)
    except BadInput as error:
        walled = wall_candidate(candidate, error.reason)
        if walled is None:
            raise
        return walled
    candidate.text = page.text
    return merge_page(candidate, page)


def wall_candidate(candidate: Candidate, reason: str) -> Candidate | None:
    """The candidate of a consent/challenge page: its feed summary as text, or None."""
    if reason not in WALLS or not candidate.summary:
        return None
    return dataclasses.replace(
        candidate, text=candidate.summary, access_status=reason, extractor=EXTRACTOR_VERSION
    )


def merge_page(candidate: Candidate, page: Extracted) -> Candidate:
    """The one enrichment of a fetched page, whatever the intake (feed, URL, sitemap, seed).

    The page's own metadata comes first and the intake's (a feed entry's authors and
    categories, a sitemap's title and date) fills in, so a page gives the same tags,
    authors, image and dates whichever way it arrived, plus what the intake adds:
    - tags: the page's (JSON-LD keywords, article:tag, news_keywords), then the intake's
      (a feed entry's categories) that the page does not have (case-insensitive);
    - authors and image: the page's, else the intake's; title: the intake's, else the page's;
    - dates: every claim of both, reconciled by ``DATE_SOURCE_PRIORITY`` (``build_rows``).
    Where each came from is kept in ``articles.provenance`` (JSON: ``{"tags": {"page":
    [...], "feed": [...]}, "authors": "page", "image": "page", "title": "feed"}``).
    """
    intake = candidate.origin
    sources: dict[str, Any] = {}
    tags: dict[str, str] = {}
    for tag, source in [(t, "page") for t in page.tags] + [(t, intake) for t in candidate.tags]:
        tag = tag.strip()
        if tag and tag.casefold() not in {k.casefold() for k in tags}:
            tags[tag] = source
    if tags:
        by_source: dict[str, list[str]] = {}
        for tag, source in tags.items():
            by_source.setdefault(source, []).append(tag)
        sources["tags"] = by_source
    candidate.tags = list(tags)
    candidate.authors, sources["authors"] = _first(
        (page.authors, "page"), (candidate.authors, intake)
    )
    candidate.image, sources["image"] = _first((page.image, "page"), (candidate.image, intake))
    candidate.title, sources["title"] = _first((candidate.title, intake), (page.title, "page"))
    candidate.dates = [*candidate.dates, *page.dates]
    feed_summary = candidate.summary
    candidate.summary = candidate.summary or page.description
    known = {k: v for k, v in sources.items() if v}
    candidate.provenance = json.dumps(known, ensure_ascii=False, sort_keys=True)
    return page_metadata(candidate, page, feed_summary)


def _first(*choices: tuple[Any, str]) -> tuple[Any, str | None]:
    """The first non-empty value and its source; (the last value, None) if all are empty."""
    for value, source in choices:
        if value:
            return value, source
    return choices[-1][0], None


def page_metadata(candidate: Candidate, page: Extracted, feed_summary: str | None) -> Candidate:
    """Copy onto ``candidate`` the page facts the intake cannot know, and the access status
    (which compares the page's text with the feed's summary)."""
    candidate.categories = list(page.categories)
    candidate.site_name = page.site_name
    candidate.description = page.description
    candidate.canonical_link = page.canonical_url
    candidate.extractor = page.extractor
    candidate.access_status = access_status(page.access_status, word_count(page.text), feed_summary)
    return candidate


def build_rows(candidate: Candidate, run_id: str, now: datetime) -> Batch:
    """The rows for one candidate whose ``text`` is set; ``BadInput`` if it has no words."""
    text = normalize_text(candidate.text or "")
    folded = WORD.findall(text.casefold())  # one pass: count, content hash and MinHash
    words = len(folded)
    if not words:
        raise BadInput(candidate.source, "no words in the article text", reason="empty_text")
    canonical = canonical_url(candidate.canonical or candidate.url)
    aid = article_id(canonical)
    language, confidence = detect_language(text)
    dates = reconcile_dates(candidate.dates, now)
    title = normalize_text(candidate.title).replace("\n", " ") if candidate.title else None
    row = ArticleRow(
        article_id=aid,
        url=candidate.url,
        canonical_url=canonical,
        domain=registered_domain(canonical),
        title=title or None,
        published_at=dates.published.value if dates.published else None,
        language=language,
        language_confidence=confidence,
        text=text,
        word_count=words,
        content_hash=hash_words(folded),
        origin=candidate.origin,
        ingested_at=now,
        modified_at=dates.modified.value if dates.modified else None,
        published_source=dates.published.source if dates.published else None,
        modified_source=dates.modified.source if dates.modified else None,
        authors=normalize_authors(candidate.authors),
        site_name=candidate.site_name,
        description=candidate.description,
        image=candidate.image,
        tags=list(dict.fromkeys(t.strip() for t in candidate.tags if t.strip())),
        categories=candidate.categories,
        canonical_link=candidate.canonical_link,
        access_status=candidate.access_status or "full",
        extractor=candidate.extractor,
        provenance=candidate.provenance,
    )
    hashes = shingle_hashes(folded)
    row.bands = signature(hashes)
    if row.bands:
        row.shingles = distinct(hashes)
    batch = Batch(run_id=run_id, articles=[row])
    batch.comments = [
        CommentRow(aid, position, normalize_text(comment))
        for position, comment in enumerate(candidate.comments, start=1)
    ]
    batch.sightings = [
        SightingRow(
            article_id=aid,
            origin=candidate.origin,
            feed_url=candidate.feed_url,
            guid=candidate.guid,
            url_seen=candidate.url,
            seen_at=candidate.seen_at or now,
        )
    ]
    notes = list(candidate.notes)
    if dates.refused:
        detail = "; ".join(
            f"{c.kind} {c.value:%Y-%m-%d} from {c.source} refused "
            f"({'before the web' if c.value < WEB_EPOCH else 'in the future'})"
            for c in dates.refused
        )
        notes.append(Note("bad_date", detail))
    batch.notes = [NoteRow(aid, note.code, note.detail) for note in notes]
    return batch

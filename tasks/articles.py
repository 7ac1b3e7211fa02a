"""Candidate with clean text -> the rows the warehouse stores for it.

The candidate's text is already article text (a seed body, or what extraction produced);
this stage only normalizes, identifies and enriches it.
"""

from __future__ import annotations

from datetime import datetime

from tasks.enrich import detect_language, registered_domain
from tasks.errors import BadInput
from tasks.normalize import article_id, canonical_url, fingerprint, normalize_text
from tasks.records import (
    ArticleRow,
    Batch,
    Candidate,
    CommentRow,
    DateClaim,
    NoteRow,
    SightingRow,
)

# Which source wins when several assert a publication date (first in this order).
DATE_SOURCE_PRIORITY = ("seed", "jsonld", "meta", "feed", "time", "htmldate", "url")


def pick_date(claims: list[DateClaim], kind: str = "published") -> DateClaim | None:
    """The most trusted claim of that kind (see ``DATE_SOURCE_PRIORITY``)."""
    ranked = [c for c in claims if c.kind == kind]
    if not ranked:
        return None

    def rank(claim: DateClaim) -> int:
        try:
            return DATE_SOURCE_PRIORITY.index(claim.source)
        except ValueError:
            return len(DATE_SOURCE_PRIORITY)

    return min(ranked, key=rank)


def build_rows(candidate: Candidate, run_id: str, now: datetime) -> Batch:
    """The rows for one candidate whose ``text`` is set; ``BadInput`` if it has no words."""
    text = normalize_text(candidate.text or "")
    words, digest = fingerprint(text)
    if not words:
        raise BadInput(candidate.source, "no words in the article text", reason="empty_text")
    canonical = canonical_url(candidate.canonical or candidate.url)
    aid = article_id(canonical)
    language, confidence = detect_language(text)
    published = pick_date(candidate.dates)
    title = normalize_text(candidate.title).replace("\n", " ") if candidate.title else None
    row = ArticleRow(
        article_id=aid,
        url=candidate.url,
        canonical_url=canonical,
        domain=registered_domain(canonical),
        title=title or None,
        published_at=published.value if published else None,
        language=language,
        language_confidence=confidence,
        text=text,
        word_count=words,
        content_hash=digest,
        origin=candidate.origin,
        ingested_at=now,
    )
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
    batch.notes = [NoteRow(aid, note.code, note.detail) for note in candidate.notes]
    return batch

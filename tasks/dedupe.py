"""Exact dedup inside one batch; the loader resolves the rest against the warehouse.

Two rules, applied in batch order:
- the same ``article_id`` twice (one canonical URL reached twice): the first row is kept,
  every sighting is kept;
- the same ``content_hash`` under another id: ``duplicate_of`` points at the first article
  with that hash. The loader then repoints it at the warehouse's earliest article with
  that hash, if there is one (it holds the only cross-run state).
"""

from __future__ import annotations

from tasks.normalize import content_hash, word_count
from tasks.records import Batch


def dedupe_batch(batch: Batch) -> Batch:
    seen_ids: set[str] = set()
    first_by_hash: dict[str, str] = {}
    articles = []
    for row in batch.articles:
        if row.article_id in seen_ids:
            continue
        seen_ids.add(row.article_id)
        first = first_by_hash.setdefault(row.content_hash, row.article_id)
        if first != row.article_id and row.duplicate_of is None:
            row.duplicate_of = first
        articles.append(row)
    comments = {(c.article_id, c.position): c for c in batch.comments}
    notes = {(n.article_id, n.code): n for n in batch.notes}
    sightings = dict.fromkeys(batch.sightings)
    return Batch(
        run_id=batch.run_id,
        articles=articles,
        comments=list(comments.values()),
        sightings=list(sightings),
        notes=list(notes.values()),
        rejects=batch.rejects,
        raw_pages=list({(r.url, r.html_hash): r for r in batch.raw_pages}.values()),
        host_times=batch.host_times,
    )


# Revisions: a changed text is a new version only if its body changed. Lines shorter than
# BODY_LINE_WORDS words (datelines, "Updated 5 min ago", share prompts, bylines) change
# between fetches without the article changing; they are left out of the comparison.
BODY_LINE_WORDS = 8


def body_hash(text: str) -> str:
    """content_hash of the text's body lines (those of at least BODY_LINE_WORDS words)."""
    lines = [line for line in text.split("\n") if word_count(line) >= BODY_LINE_WORDS]
    return content_hash("\n".join(lines) if lines else text)


def is_material_change(old: str, new: str) -> bool:
    """Whether a known article's new text is a revision worth a new version."""
    return body_hash(old) != body_hash(new)

"""Exact dedup inside one batch; the loader resolves the rest against the warehouse.

Two rules, applied in batch order:
- the same ``article_id`` twice (one canonical URL reached twice): the first row is kept,
  every sighting is kept;
- the same ``content_hash`` under another id: ``duplicate_of`` points at the first article
  with that hash. The loader then repoints it at the warehouse's earliest article with
  that hash, if there is one (it holds the only cross-run state).
"""

from __future__ import annotations

from newsflow.tasks.records import Batch


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

"""The loader: the only process that writes the warehouse.

For each complete batch in the spool, oldest first, one transaction merges its rows,
records the batch in ``spool_batches`` and commits; only then is the batch's folder removed.
A crash at any point leaves either an unloaded batch (loaded next time) or a loaded batch
still in the spool (recognized by ``spool_batches`` and removed). Every merge is keyed on
natural keys besides, so loading the same rows twice changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tasks import spool as spool_mod
from tasks.dedupe import is_material_change
from warehouse import runs as run_ledger
from warehouse import stories
from warehouse.db import connect_writer, rollback, rows_by_ids
from warehouse.publish import publish_after_load, published_path
from warehouse.revisions import merge_revisions
from warehouse.search_index import SPOOLED as SPOOLED_POSTINGS
from warehouse.search_index import merge_search_index
from warehouse.seedfiles import merge_seed_files

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    batches: int = 0
    loaded: int = 0  # new articles
    updated: int = 0  # known articles whose text changed
    duplicates: int = 0  # new articles with duplicate_of set
    unchanged: int = 0  # known articles seen again with the same text
    sightings: int = 0
    rejects: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    skipped_batches: int = 0  # already loaded (a crash came between commit and cleanup)
    revised: int = 0  # article rows whose derived columns a backfill recomputed
    others_batches: int = 0  # batches of other runs merged (credited to those runs)

    def add(self, other: LoadReport) -> None:
        for name in (
            "batches",
            "loaded",
            "updated",
            "duplicates",
            "unchanged",
            "sightings",
            "rejects",
            "skipped_batches",
            "revised",
            "others_batches",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, count in other.rejects_by_reason.items():
            self.rejects_by_reason[reason] = self.rejects_by_reason.get(reason, 0) + count


@dataclass(frozen=True)
class RunRow:
    run_id: str
    flow: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    items: int
    error: str | None = None


def load_spool(
    db: Path,
    spool: str,
    *,
    lock_wait: float,
    run: RunRow | None = None,
    on_wait: Callable[[str, float], None] | None = None,
    batch_ids: list[str] | None = None,
    publish: bool = False,
    loaded_before: int = 0,
) -> LoadReport:
    """Merge every complete spool batch (or just ``batch_ids``) into the warehouse;
    with ``publish``, then refresh the analysts' read-only copy (``warehouse/publish.py``)
    if anything was loaded (``loaded_before``: batches the caller loaded already).

    With ``run``, its row is recorded and the report is the run's totals from its row: every
    batch it spooled, whichever process merged it."""
    ids = spool_mod.pending(spool) if batch_ids is None else batch_ids
    con = connect_writer(db, lock_wait, on_wait)
    try:
        report = load_batches(con, spool, ids, run=run)
        merged = report.batches + report.others_batches
        if run is not None:  # the run's own totals, whoever merged its batches
            own, report = report, run_ledger.totals(con, run.run_id)
            report.skipped_batches, report.revised = own.skipped_batches, own.revised
            report.others_batches = own.others_batches
    finally:
        con.close()
    if publish and (merged or loaded_before or not published_path(db).exists()):
        publish_after_load(db, lock_wait=lock_wait, on_wait=on_wait)
    return report


def load_batches(
    con: duckdb.DuckDBPyConnection,
    spool: str,
    batch_ids: list[str],
    *,
    run: RunRow | None = None,
    threads: int | None = None,
) -> LoadReport:
    """Merge the given spool batches over an open writer connection (``connect_writer``),
    each in its own transaction; with ``run``, add their counts to the run's row.

    ``threads``: DuckDB's threads for the loads (default: the connection's, every core). A
    loader that shares the machine with a run's workers does better with one: measured on
    10,000 seed articles (20 batches of 500) loaded alone, 15.5 CPU-s and 15.2 s with one
    thread against 19.9 CPU-s and 16.2 s with two; in the ingest-seeds flow its process used
    29 CPU-s instead of 38. Alone on a large warehouse, every core pays: 1,000 articles into
    1,000,000 took 3.0 s with one thread, 2.5 s with two (bench_warehouse_scale)."""
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    by_run: dict[str | None, LoadReport] = {}
    for batch_id in batch_ids:
        loaded, owner = _load_one(con, spool, batch_id)
        by_run.setdefault(owner, LoadReport()).add(loaded)
    # Each batch's counts go to the run that spooled it, whoever merges it. With ``run``,
    # the report is that run's share (and how many batches of others were merged);
    # without, every batch merged.
    report = by_run.pop(None, LoadReport())
    if run is not None:
        report.add(by_run.pop(run.run_id, LoadReport()))
    for owner, other in by_run.items():
        assert owner is not None
        run_ledger.credit(con, owner, other)
        if run is None:
            report.add(other)
        else:
            report.others_batches += other.batches
    if run is not None:
        _record_run(con, run, report)
    return report


def _load_one(
    con: duckdb.DuckDBPyConnection, spool: str, batch_id: str
) -> tuple[LoadReport, str | None]:
    """Merge one batch: its counts, and the run that spooled it."""
    report = LoadReport()
    done = con.execute("SELECT 1 FROM spool_batches WHERE batch_id = ?", [batch_id]).fetchone()
    if done:
        spool_mod.remove_batch(spool, batch_id)
        report.skipped_batches = 1
        return report, None
    manifest, tables = spool_mod.read_batch(spool, batch_id)
    con.execute("BEGIN TRANSACTION")
    try:
        _merge(con, tables, report)
        con.execute(
            "INSERT INTO spool_batches VALUES (?, ?, now(), ?, ?)",
            [
                batch_id,
                manifest.get("run_id"),
                tables["articles"].num_rows,
                tables["rejects"].num_rows,
            ],
        )
        con.execute("COMMIT")
    except Exception:
        rollback(con)  # the error that got us here is the one to raise
        raise
    finally:
        for name in tables:
            con.unregister(f"new_{name}")
    report.batches = 1
    spool_mod.remove_batch(spool, batch_id)
    owner = manifest.get("run_id")
    return report, str(owner) if owner else None


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _merge(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table], report: LoadReport) -> None:
    for name, table in tables.items():
        con.register(f"new_{name}", table)
    # Within a batch, the first row of an article wins (workers already do this; the loader
    # does not trust them, since ON CONFLICT and anti-joins fail on in-batch duplicates).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE batch_articles AS SELECT * EXCLUDE (shingles) "
        "FROM new_articles QUALIFY row_number() OVER (PARTITION BY article_id) = 1"
    )
    # The batch's articles the warehouse has already: one scan of its ids, not one per use.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE known AS SELECT article_id, content_hash FROM articles "
        "SEMI JOIN batch_articles USING (article_id)"
    )
    # Known articles whose text changed: the old text goes to article_versions.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE changed AS "
        "SELECT n.* FROM batch_articles n JOIN known a USING (article_id) "
        "WHERE a.content_hash <> n.content_hash"
    )
    _keep_material_changes(con)
    report.updated = _count(con, "SELECT count(*) FROM changed")
    report.unchanged = _count(
        con,
        "SELECT count(*) FROM known WHERE article_id NOT IN (SELECT article_id FROM changed)",
    )
    if report.updated:
        ids = [row[0] for row in con.execute("SELECT article_id FROM changed").fetchall()]
        for i in range(0, len(ids), 50):  # literal ids: only their texts are read (_texts)
            part = ids[i : i + 50]
            con.execute(
                "INSERT INTO article_versions "
                "SELECT a.article_id, a.title, a.text, a.content_hash, n.ingested_at "
                "FROM articles a JOIN changed n USING (article_id) "
                f"WHERE a.article_id IN ({', '.join('?' * len(part))})",
                part,
            )
        con.execute(
            "UPDATE articles SET title = n.title, text = n.text, word_count = n.word_count, "
            "content_hash = n.content_hash, language = n.language, "
            "language_confidence = n.language_confidence, "
            "published_at = coalesce(n.published_at, articles.published_at), "
            "modified_at = coalesce(n.modified_at, articles.modified_at), "
            "modified_source = CASE WHEN n.modified_at IS NULL THEN articles.modified_source "
            "ELSE n.modified_source END, reading_minutes = n.reading_minutes, "
            "access_status = n.access_status, extractor = n.extractor, "
            "updated_at = n.ingested_at FROM changed n WHERE articles.article_id = n.article_id"
        )
        con.execute(
            "DELETE FROM article_bands WHERE article_id IN (SELECT article_id FROM changed)"
        )
        con.execute(
            "INSERT INTO article_bands SELECT unnest(bands), article_id FROM changed "
            "WHERE len(bands) > 0"
        )
    # New articles. duplicate_of points at the warehouse's earliest article with the same
    # text when there is one, else at what the worker found inside the batch.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE fresh AS "
        "SELECT n.* REPLACE (coalesce(r.root, n.duplicate_of) AS duplicate_of) "
        "FROM batch_articles n "
        "LEFT JOIN (SELECT content_hash, arg_min(article_id, ingested_at) AS root "
        "           FROM articles WHERE duplicate_of IS NULL "
        "           AND content_hash IN (SELECT content_hash FROM batch_articles) "
        "           GROUP BY content_hash) r USING (content_hash) "
        "WHERE n.article_id NOT IN (SELECT article_id FROM known)"
    )
    report.loaded = _count(con, "SELECT count(*) FROM fresh")
    _merge_near_duplicates(con)
    report.duplicates = _count(con, "SELECT count(*) FROM fresh WHERE duplicate_of IS NOT NULL")
    con.execute(
        "INSERT INTO articles (article_id, url, canonical_url, domain, title, published_at, "
        "language, language_confidence, text, word_count, content_hash, duplicate_of, origin, "
        "ingested_at, modified_at, published_source, modified_source, authors, site_name, "
        "description, image, tags, categories, canonical_link, access_status, reading_minutes, "
        "extractor, cluster_id, provenance) SELECT article_id, url, canonical_url, domain, title, "
        "published_at, language, language_confidence, text, word_count, content_hash, "
        "duplicate_of, origin, ingested_at, modified_at, published_source, modified_source, "
        "authors, site_name, description, image, tags, categories, canonical_link, "
        "coalesce(access_status, 'full'), reading_minutes, extractor, "
        "coalesce(duplicate_of, article_id), provenance "
        "FROM fresh"
    )
    con.execute(
        "INSERT INTO article_bands SELECT unnest(bands), article_id FROM fresh WHERE len(bands) > 0"
    )
    _merge_raw_pages(con)
    # Comments follow the text they were published with: replaced for new and changed articles.
    con.execute(
        "DELETE FROM article_comments WHERE article_id IN "
        "(SELECT article_id FROM fresh UNION SELECT article_id FROM changed)"
    )
    con.execute(
        "INSERT INTO article_comments SELECT c.article_id, c.position, c.text FROM new_comments c "
        "WHERE c.article_id IN (SELECT article_id FROM fresh UNION SELECT article_id FROM changed) "
        "QUALIFY row_number() OVER (PARTITION BY c.article_id, c.position) = 1"
    )
    before = _count(con, "SELECT count(*) FROM article_sightings")
    con.execute(
        "INSERT INTO article_sightings "
        "SELECT s.article_id, s.origin, s.feed_url, s.guid, s.url_seen, min(s.seen_at) "
        "FROM new_sightings s WHERE NOT EXISTS (SELECT 1 FROM ("
        # Only the batch's articles' sightings: the anti-join then hashes those, not all.
        "  SELECT * FROM article_sightings WHERE article_id IN "
        "  (SELECT article_id FROM new_sightings)) o "
        "  WHERE o.article_id = s.article_id AND o.origin = s.origin "
        "  AND o.feed_url IS NOT DISTINCT FROM s.feed_url AND o.guid IS NOT DISTINCT FROM s.guid "
        "  AND o.url_seen = s.url_seen) "
        "GROUP BY ALL"
    )
    report.sightings = _count(con, "SELECT count(*) FROM article_sightings") - before
    con.execute(
        "INSERT INTO article_notes SELECT n.article_id, n.code, any_value(n.detail), now() "
        "FROM new_notes n WHERE n.article_id IN (SELECT article_id FROM fresh) "
        "AND NOT EXISTS (SELECT 1 FROM article_notes o WHERE o.article_id = n.article_id "
        "AND o.code = n.code) GROUP BY n.article_id, n.code"
    )
    con.execute(
        "INSERT INTO rejects SELECT * FROM new_rejects r WHERE NOT EXISTS ("
        "  SELECT 1 FROM rejects o WHERE o.source = r.source AND o.stage = r.stage "
        "  AND o.reason = r.reason AND o.run_id IS NOT DISTINCT FROM r.run_id)"
    )
    rows: list[Any] = con.execute(
        "SELECT reason, count(*) FROM new_rejects GROUP BY reason"
    ).fetchall()
    report.rejects_by_reason = {reason: int(count) for reason, count in rows}
    report.rejects = sum(report.rejects_by_reason.values())
    report.revised = merge_revisions(con, tables)
    if stories.RELINK in tables:  # backfill rededup: every link again under today's rule
        report.revised += stories.relink(
            con, tables[stories.RELINK].column("requested_at")[0].as_py()
        )
    merge_search_index(
        con, spooled=SPOOLED_POSTINGS in tables
    )  # the batch's new and changed articles (warehouse/search_index.py)
    if "feed_states" in tables:
        _merge_feed_states(con)
    merge_seed_files(con, tables)  # the seed-file ledger, with the files' articles
    if "runs" in tables:  # runs of work-pool workers, which leave loading to the loader
        con.execute(
            "INSERT INTO runs (run_id, flow, started_at, finished_at, status, items) "
            "SELECT run_id, flow, started_at, finished_at, status, items FROM new_runs "
            "ON CONFLICT (run_id) DO UPDATE SET flow = excluded.flow, "
            "started_at = excluded.started_at, finished_at = excluded.finished_at, "
            "status = excluded.status, items = excluded.items"
        )


def _merge_feed_states(con: duckdb.DuckDBPyConnection) -> None:
    """Feed validators and health from polls whose entries this batch's run spooled first.

    Outcomes: ok / not_modified reset the failure counts and clear quarantine; soft and hard
    failures are counted apart; 3 hard failures in a row quarantine the feed (1, 2, 4 ...
    days, at most 30) and 410 Gone at once (30 days); after that time it is polled again.
    Validators change only with a response that was parsed (ok) or confirmed (304).
    """
    con.execute(
        "INSERT INTO feeds (url) SELECT DISTINCT url FROM new_feed_states "
        "WHERE url NOT IN (SELECT url FROM feeds)"
    )
    con.execute(
        "UPDATE feeds SET "
        "name = coalesce(s.name, feeds.name), title = coalesce(s.title, feeds.title), "
        "etag = CASE WHEN s.outcome = 'ok' THEN s.etag "
        "  WHEN s.outcome = 'not_modified' THEN coalesce(s.etag, feeds.etag) ELSE feeds.etag END, "
        "last_modified = CASE WHEN s.outcome = 'ok' THEN s.last_modified "
        "  WHEN s.outcome = 'not_modified' THEN coalesce(s.last_modified, feeds.last_modified) "
        "  ELSE feeds.last_modified END, "
        "last_status = s.status, last_polled_at = s.polled_at, last_error = s.error, "
        "last_entries = CASE WHEN s.outcome = 'ok' THEN s.entries END, "
        "consecutive_failures = CASE WHEN s.ok THEN 0 ELSE feeds.consecutive_failures + 1 END, "
        "last_success_at = CASE WHEN s.ok THEN s.polled_at ELSE feeds.last_success_at END, "
        "soft_failures = CASE WHEN s.ok THEN 0 WHEN s.outcome = 'soft' "
        "  THEN coalesce(feeds.soft_failures, 0) + 1 ELSE feeds.soft_failures END, "
        "hard_failures = CASE WHEN s.ok THEN 0 WHEN s.outcome IN ('hard', 'gone') "
        "  THEN coalesce(feeds.hard_failures, 0) + 1 ELSE feeds.hard_failures END, "
        "quarantined_until = CASE WHEN s.ok THEN NULL "
        "  WHEN s.outcome = 'gone' THEN s.polled_at + INTERVAL 30 DAY "
        "  WHEN s.outcome = 'hard' AND coalesce(feeds.hard_failures, 0) + 1 >= 3 "
        "  THEN s.polled_at + to_days(CAST(least(30, pow(2, coalesce(feeds.hard_failures, 0) - 2))"
        "    AS INTEGER)) "
        "  ELSE feeds.quarantined_until END "
        "FROM (SELECT *, outcome IN ('ok', 'not_modified') AS ok FROM new_feed_states "
        "      QUALIFY row_number() OVER (PARTITION BY url ORDER BY polled_at DESC) = 1) s "
        "WHERE feeds.url = s.url"
    )


def _record_run(con: duckdb.DuckDBPyConnection, run: RunRow, report: LoadReport) -> None:
    """Upsert the run's row; counts add up over the run's loads."""
    run_ledger.record(
        con,
        run.run_id,
        run.flow,
        run.started_at,
        run.finished_at,
        run.status,
        run.items,
        report,
        error=run.error,
    )


def _keep_material_changes(con: duckdb.DuckDBPyConnection) -> None:
    """Drop from ``changed`` the texts that changed only immaterially (tasks.dedupe)."""
    new_texts = dict(con.execute("SELECT article_id, text FROM changed").fetchall())
    if not new_texts:
        return
    old_texts = _texts(con, list(new_texts))
    minor = [
        aid for aid, text in new_texts.items() if not is_material_change(old_texts[aid][1], text)
    ]
    if minor:
        con.execute("DELETE FROM changed WHERE article_id IN (SELECT unnest(?))", [minor])


def _texts(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, tuple[str, str]]:
    """{article_id: (content_hash, text)} of the given articles in the warehouse."""
    sql = "SELECT article_id, content_hash, text FROM articles WHERE article_id IN ({ids})"
    return {aid: (chash, text) for aid, chash, text in rows_by_ids(con, sql, ids)}


def _merge_near_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    """Point each new article that tells an earlier story at that story's representative,
    and keep the evidence of every new link (warehouse/stories.py, tasks/boilerplate.py)."""
    rows: list[Any] = con.execute(
        "SELECT article_id, coalesce(domain, ''), text, content_hash, ingested_at, bands "
        "FROM fresh WHERE duplicate_of IS NULL ORDER BY ingested_at, article_id"
    ).fetchall()
    links, extra = stories.link_new(con, [stories.NewArticle(*row) for row in rows])
    if extra:
        con.register(
            "nd_extra",
            pa.table(
                {
                    "article_id": [aid for aid, keys in extra.items() for _ in keys],
                    "band_key": pa.array([k for keys in extra.values() for k in keys], pa.int64()),
                }
            ),
        )
        try:  # the stripped texts' keys: later copies under other furniture find these
            con.execute("INSERT INTO article_bands SELECT band_key, article_id FROM nd_extra")
        finally:
            con.unregister("nd_extra")
    if links:
        pairs = pa.table(
            {"article_id": list(links), "root": [link.representative for link in links.values()]}
        )
        con.register("nd_roots", pairs)
        try:
            con.execute(
                "UPDATE fresh SET duplicate_of = r.root FROM nd_roots r "
                "WHERE fresh.article_id = r.article_id"
            )
            # In-batch exact duplicates of an article that turned out to be a near-duplicate.
            con.execute(
                "UPDATE fresh SET duplicate_of = r.root FROM nd_roots r "
                "WHERE fresh.duplicate_of = r.article_id"
            )
        finally:
            con.unregister("nd_roots")
    exact = dict(
        con.execute(
            "SELECT article_id, duplicate_of FROM fresh WHERE duplicate_of IS NOT NULL"
        ).fetchall()
    )
    row = con.execute("SELECT max(ingested_at) FROM fresh").fetchone()
    if row is None or row[0] is None:
        return
    at = row[0]
    stories.record(con, links, {aid: rep for aid, rep in exact.items() if aid not in links}, at)


def _merge_raw_pages(con: duckdb.DuckDBPyConnection) -> None:
    """Store each fetched page version once (by URL and HTML hash)."""
    con.execute(
        "INSERT INTO raw_pages SELECT r.url, any_value(r.article_id), min(r.fetched_at), "
        "r.html_hash, any_value(r.html_bytes), any_value(r.html_zstd) FROM new_raw_pages r "
        "WHERE NOT EXISTS (SELECT 1 FROM raw_pages o WHERE o.html_hash = r.html_hash "
        "AND o.url = r.url) GROUP BY r.url, r.html_hash"
    )

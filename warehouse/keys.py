"""The loader's key index on a lake: a SQLite file per machine, derived from the lake.

DuckLake has no index, and min/max pruning cannot help a batch's thousands of random keys,
so every lookup by key (the batch's article ids, content hashes, 36 band keys an article,
sentence hashes) would scan its whole column: time per load growing with the warehouse. This
file holds those keys in B-trees, probed per key (log N):

- ``articles``: article_id -> content_hash, ingested_at, cluster_id, whether a root
  (``duplicate_of IS NULL``), published_at (which day partition holds its row);
- ``bands``: (band_key, article_id) -> how many such rows ``article_bands`` holds;
- ``units``: (unit_hash, domain) -> stories, first_article (``text_units`` with the
  ``text_unit_deltas`` not yet folded in: ``text_unit_stories``).

It is never the source of truth: ``meta`` records the lake snapshot it reflects (and that
snapshot's time, which tells another lake at the same path apart). Inside each load's
transaction, before the lookups, ``KeyIndex.catch_up`` applies the lake's changes since then
(the rows written since, read from the files written since; DuckLake's change feed of
deleted rows when the row counts say some were), and holds that state while the load runs,
so a crash after the lake's commit, another loader's commits, maintenance and ``rededup``
are all caught up. When the change feed cannot say (the snapshot expired, the counts still
disagree) or the file is missing or corrupt, the index is rebuilt from the lake's tables:
one pass over them, logged. Deleting the file is always safe.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from newsflow.warehouse import storage

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VERSION = "2"  # 2: articles.published_at
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS articles (article_id TEXT PRIMARY KEY, content_hash TEXT,
    ingested_at INTEGER, cluster_id TEXT, root INTEGER, published_at INTEGER) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS articles_roots ON articles (content_hash) WHERE root;
CREATE TABLE IF NOT EXISTS bands (band_key INTEGER, article_id TEXT, n INTEGER,
    PRIMARY KEY (band_key, article_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS units (unit_hash INTEGER, domain TEXT, stories INTEGER,
    first_article TEXT, PRIMARY KEY (unit_hash, domain)) WITHOUT ROWID;
"""
# Per lake table: the index's table, the lake's key and the columns the index keeps
# (timestamps as microseconds since the epoch).
_ARTICLES = (
    "article_id, content_hash, epoch_us(ingested_at) AS ingested_at, "
    "coalesce(cluster_id, article_id) AS cluster_id, (duplicate_of IS NULL)::INTEGER AS root, "
    "epoch_us(published_at) AS published_at"
)
_UNITS = "unit_hash, coalesce(domain, '') AS domain, stories, first_article"
_LAKE_TABLES = {"articles": "articles", "bands": "article_bands", "units": "text_units"}
_KEYS = {"articles": ["article_id"], "units": ["unit_hash", "domain"]}


class Rebuild(Exception):
    """The change feed cannot bring the index up to date: rebuild it from the lake."""


def _us(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def _at(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + timedelta(microseconds=us)


class KeyIndex:
    """The key index at ``path``, for one load transaction at a time on a lake connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None
        self.overlay: dict[str, str] = {}  # article -> content hash the transaction set
        self.overlay_bands: list[tuple[int, str]] = []  # ... and its new band keys

    # -- catch-up -------------------------------------------------------------------------

    def catch_up(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Bring the index to the snapshot ``con``'s open transaction reads, and hold it
        there (a read transaction) until ``release``. False: not usable for this
        transaction (another process moved it past this snapshot); use the SQL lookups."""
        self.release()
        alias = _alias(con)
        row = con.execute(
            f"SELECT s.snapshot_id, s.snapshot_time FROM {alias}.snapshots() s "
            f"JOIN {alias}.current_snapshot() c ON s.snapshot_id = c.id"
        ).fetchone()
        if row is None:
            return False
        snapshot, at = int(row[0]), row[1].isoformat()
        db = self._open()
        try:
            db.execute("BEGIN IMMEDIATE")
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            mark = int(meta["snapshot"]) if "snapshot" in meta else None
            if mark is not None and mark > snapshot and meta.get("snapshot_time", "") >= at:
                # another loader here moved it past this transaction's snapshot (which then
                # conflicts at COMMIT if that was a load): this one asks the lake instead. (A
                # transaction sees no later snapshot; an index whose snapshot is numbered
                # higher but older is another lake's, rebuilt below.)
                db.execute("ROLLBACK")
                return False
            if mark != snapshot or meta.get("snapshot_time") != at:
                try:
                    if mark is None or mark > snapshot or meta.get("version") != _VERSION:
                        raise Rebuild("it reflects no snapshot of this lake")
                    self._apply_changes(con, db, alias, mark, meta, snapshot)
                except Rebuild as why:
                    self._rebuild(con, db, alias, str(why))
                db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [("snapshot", str(snapshot)), ("snapshot_time", at), ("version", _VERSION)],
                )
            db.execute("COMMIT")
            db.execute("BEGIN")  # readers keep this state while other loaders move it on
            found = db.execute("SELECT value FROM meta WHERE key = 'snapshot'").fetchone()
        except BaseException:  # nothing half-applied: the index stays at its last snapshot
            self.close()
            raise
        self.overlay, self.overlay_bands = {}, []
        if found is None or int(found[0]) != snapshot:
            self.release()
            return False
        return True

    def release(self) -> None:
        if self.db is not None and self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def close(self) -> None:
        if self.db is not None:
            self.db.close()  # an open transaction is rolled back
            self.db = None

    def _open(self) -> sqlite3.Connection:
        if self.db is not None:
            return self.db
        for attempt in (1, 2):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, isolation_level=None, timeout=600)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA cache_size=-200000")
                db.execute("PRAGMA mmap_size=68719476736")  # pages read in place, no syscall
                _layout(db)
                db.execute("SELECT count(*) FROM meta").fetchone()
                self.db = db
                return db
            except sqlite3.DatabaseError as error:
                if attempt == 2:
                    raise
                log.warning("key index %s is unreadable (%s): rebuilding it", self.path, error)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        raise AssertionError("unreachable")

    def _apply_changes(
        self,
        con: duckdb.DuckDBPyConnection,
        db: sqlite3.Connection,
        alias: str,
        mark: int,
        meta: dict[str, str],
        snapshot: int,
    ) -> None:
        """Apply the lake's changes in (mark, snapshot]: the rows written since (an update
        writes its row again), then the rows deleted since where the counts show some."""
        if not _has(con, alias, mark, meta):
            raise Rebuild(f"its snapshot {mark} is no longer in the lake's catalog")
        # DuckLake prunes the data files by the snapshots that wrote them: this reads the
        # files written since ``mark``, not the table.
        since = f"WHERE snapshot_id > {int(mark)}"
        feed = f"ducklake_table_{{}}('{alias}', 'main', '{{}}', {mark + 1}, {snapshot})"
        try:
            # in key order: the B-tree is written page after page
            self._keyed(
                con, db, feed, "articles", f"SELECT {_ARTICLES} FROM articles {since} ORDER BY 1"
            )
            self._keyed(
                con, db, feed, "units", f"SELECT {_UNITS} FROM text_units {since} ORDER BY 1, 2"
            )
            self._deltas(con, db, since)
            self._bands(con, db, feed, since)
        except duckdb.Error as error:
            raise Rebuild(f"the change feed failed: {str(error).splitlines()[0]}") from error
        for table in _LAKE_TABLES:
            if _count(db, table) != _lake_count(con, _LAKE_TABLES[table]):
                raise Rebuild(f"its {table} disagree with the lake's after the change feed")

    def _keyed(
        self,
        con: duckdb.DuckDBPyConnection,
        db: sqlite3.Connection,
        feed: str,
        table: str,
        written: str,
    ) -> None:
        """A table with one row per key: the rows written since replace the index's; keys
        deleted since and not written again are deleted."""
        key = _KEYS[table]
        rows = con.execute(written).fetchall()
        _upsert(db, table, key, rows)
        lake_table = _LAKE_TABLES[table]
        if _count(db, table) == _lake_count(con, lake_table):
            return
        live = {tuple(r[: len(key)]) for r in rows}
        names = ", ".join(key) if table != "units" else "unit_hash, coalesce(domain, '')"
        deleted = con.execute(
            f"SELECT DISTINCT {names} FROM {feed.format('deletions', lake_table)}"
        ).fetchall()
        _delete(db, table, key, [d for d in deleted if tuple(d) not in live])

    @staticmethod
    def _deltas(con: duckdb.DuckDBPyConnection, db: sqlite3.Connection, since: str) -> None:
        """The stories loads appended to ``text_unit_deltas`` since add to their sentences'
        counts (after ``_keyed``: a fold since took its deltas in, deleted them and wrote
        their ``text_units`` rows again, whole)."""
        rows = con.execute(
            f"SELECT unit_hash, domain, sum(stories) FROM text_unit_deltas {since} GROUP BY ALL"
        ).fetchall()
        db.executemany(
            "UPDATE units SET stories = stories + ? WHERE unit_hash = ? AND domain = ?",
            [(n, h, d) for h, d, n in rows],
        )

    def _bands(
        self, con: duckdb.DuckDBPyConnection, db: sqlite3.Connection, feed: str, since: str
    ) -> None:
        """A multiset: the rows written since add; the rows deleted since that were there
        before (rows are never updated, so a row id the insertions do not list) take away."""
        added = con.execute(
            f"SELECT band_key, article_id, count(*) FROM article_bands {since} GROUP BY ALL "
            "ORDER BY 1, 2"
        ).fetchall()
        db.executemany(
            "INSERT INTO bands VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n",
            added,
        )
        _add_count(db, "bands", sum(r[2] for r in added))
        if _count(db, "bands") == _lake_count(con, "article_bands"):
            return
        deleted, inserted = (feed.format(f, "article_bands") for f in ("deletions", "insertions"))
        taken = con.execute(
            f"SELECT band_key, article_id, count(*) FROM {deleted} "
            f"WHERE rowid NOT IN (SELECT rowid FROM {inserted}) GROUP BY ALL"
        ).fetchall()
        db.executemany(
            "UPDATE bands SET n = n - ? WHERE band_key = ? AND article_id = ?",
            [(n, k, a) for k, a, n in taken],
        )
        db.executemany(
            "DELETE FROM bands WHERE band_key = ? AND article_id = ? AND n <= 0",
            [(k, a) for k, a, _ in taken],
        )
        _add_count(db, "bands", -sum(r[2] for r in taken))

    def _rebuild(
        self, con: duckdb.DuckDBPyConnection, db: sqlite3.Connection, alias: str, why: str
    ) -> None:
        """Fill the index from the lake's current tables (one pass over their key columns)."""
        log.info("key index %s: rebuilt from the lake (%s)", self.path, why)
        for table in ("articles", "bands", "units"):
            db.execute(f"DELETE FROM {table}")
        db.execute("DELETE FROM meta")
        steps = (
            ("articles", f"SELECT {_ARTICLES} FROM articles ORDER BY article_id", 6),
            (
                "bands",
                "SELECT band_key, article_id, count(*) FROM article_bands GROUP BY ALL "
                "ORDER BY ALL",
                3,
            ),
            ("units", f"SELECT {_UNITS} FROM text_unit_stories ORDER BY unit_hash, domain", 4),
        )
        for table, sql, width in steps:
            reader = con.execute(sql).to_arrow_reader(100_000)
            total = 0
            marks = ", ".join("?" * width)
            for batch in reader:
                rows = list(zip(*(c.to_pylist() for c in batch.columns), strict=True))
                db.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", rows)
                total += sum(r[2] for r in rows) if table == "bands" else len(rows)
            _set_count(db, table, total)

    # -- lookups (inside the transaction ``catch_up`` pinned) ----------------------------

    def set_overlay(self, changed: dict[str, str], bands: list[tuple[int, str]]) -> None:
        """The transaction's own revisions so far: their new content hashes, and their band
        keys (which replace the article's keys in ``article_bands``)."""
        self.overlay, self.overlay_bands = dict(changed), list(bands)

    def known(self, ids: Sequence[str]) -> pa.Table:
        """(article_id, content_hash) of the given articles the warehouse holds."""
        rows = self._probe(
            "SELECT a.article_id, a.content_hash FROM json_each(?) j "
            "CROSS JOIN articles a ON a.article_id = j.value",
            list(ids),
        )
        return pa.table(
            {
                "article_id": pa.array([r[0] for r in rows], pa.string()),
                "content_hash": pa.array([r[1] for r in rows], pa.string()),
            }
        )

    def roots(self, hashes: Sequence[str]) -> pa.Table:
        """(content_hash, root): the earliest root article with each text."""
        wanted = set(hashes)
        rows = [
            r
            for r in self._probe(
                "SELECT a.content_hash, a.article_id, a.ingested_at FROM json_each(?) j "
                "CROSS JOIN articles a ON a.content_hash = j.value AND a.root",
                sorted(wanted),
            )
            if r[1] not in self.overlay
        ]
        for aid, (chash, at, _, root) in self.articles(list(self.overlay)).items():
            if root and chash in wanted:
                rows.append((chash, aid, _us(at)))
        best: dict[str, tuple[int, str]] = {}
        for chash, aid, at in rows:
            if chash not in best or (at, aid) < best[chash]:
                best[chash] = (at, aid)
        return pa.table(
            {
                "content_hash": pa.array(list(best), pa.string()),
                "root": pa.array([v[1] for v in best.values()], pa.string()),
            }
        )

    def articles(self, ids: Iterable[str]) -> dict[str, tuple[str, datetime, str, bool]]:
        """article_id -> (content_hash, ingested_at, cluster_id, is a root), as the
        transaction sees them."""
        rows = self._probe(
            "SELECT a.article_id, a.content_hash, a.ingested_at, a.cluster_id, a.root "
            "FROM json_each(?) j CROSS JOIN articles a ON a.article_id = j.value",
            sorted(set(ids)),
        )
        out = {}
        for aid, chash, at, cluster, root in rows:
            stamp = _at(at)
            assert stamp is not None
            out[aid] = (self.overlay.get(aid, chash), stamp, cluster, bool(root))
        return out

    def published(self, ids: Iterable[str]) -> dict[str, datetime | None]:
        """article_id -> published_at (None: undated) of the given articles whose date the
        index knows for this transaction: not those it does not hold, nor those the
        transaction revised (their date may have changed)."""
        rows = self._probe(
            "SELECT a.article_id, a.published_at FROM json_each(?) j "
            "CROSS JOIN articles a ON a.article_id = j.value",
            sorted(set(ids)),
        )
        return {aid: _at(at) for aid, at in rows if aid not in self.overlay}

    def bands(self, keys: Sequence[int]) -> list[tuple[int, str]]:
        """The (band_key, article_id) rows of ``article_bands`` with these keys, a row as
        many times as the lake holds it."""
        rows = self._probe(
            "SELECT b.band_key, b.article_id, b.n FROM json_each(?) j "
            "CROSS JOIN bands b ON b.band_key = j.value",
            sorted(set(keys)),
        )
        wanted = set(keys)
        found = [(k, a) for k, a, n in rows if a not in self.overlay for _ in range(n)]
        return found + [(k, a) for k, a in self.overlay_bands if k in wanted]

    def units(self, hashes: Sequence[int]) -> list[tuple[int, str, int, str]]:
        """(unit_hash, domain, stories, first_article) of ``text_units`` for these hashes."""
        return [
            (h, d, s, f)
            for h, d, s, f in self._probe(
                "SELECT u.unit_hash, u.domain, u.stories, u.first_article FROM json_each(?) j "
                "CROSS JOIN units u ON u.unit_hash = j.value",
                sorted(set(hashes)),
            )
        ]

    def _probe(self, sql: str, values: list[Any]) -> list[tuple[Any, ...]]:
        if not values:
            return []
        assert self.db is not None and self.db.in_transaction, "catch_up first"
        return self.db.execute(sql, [json.dumps(values)]).fetchall()


def for_lake(con: duckdb.DuckDBPyConnection) -> KeyIndex:
    """The key index of the lake ``con`` has attached as its current database."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if row is None or not row[0]:
        raise ValueError("the connection's current database is no lake")
    return KeyIndex(storage.keys_path(str(row[0])))


def _layout(db: sqlite3.Connection) -> None:
    """Create the index's tables; a file of an older layout (its tables lack a column) is
    emptied first, so the next catch-up rebuilds it from the lake."""
    db.executescript(_SCHEMA)
    columns = {r[1] for r in db.execute("PRAGMA table_info(articles)").fetchall()}
    if "published_at" not in columns:
        log.info("key index: an older layout, rebuilt from the lake")
        db.executescript(
            "DROP TABLE articles; DROP TABLE bands; DROP TABLE units; DROP TABLE meta;"
        )
        db.executescript(_SCHEMA)


def _has(con: duckdb.DuckDBPyConnection, alias: str, mark: int, meta: dict[str, str]) -> bool:
    """Whether the lake still has the snapshot the index recorded (the same one: its time)."""
    row = con.execute(
        f"SELECT snapshot_time FROM {alias}.snapshots() WHERE snapshot_id = ?", [mark]
    ).fetchone()
    return row is not None and row[0].isoformat() == meta.get("snapshot_time")


def _alias(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])


def _lake_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _count(db: sqlite3.Connection, table: str) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [f"rows_{table}"]).fetchone()
    return int(row[0]) if row else 0


def _set_count(db: sqlite3.Connection, table: str, n: int) -> None:
    db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [f"rows_{table}", str(n)])


def _add_count(db: sqlite3.Connection, table: str, n: int) -> None:
    _set_count(db, table, _count(db, table) + n)


def _upsert(db: sqlite3.Connection, table: str, key: list[str], rows: list[Any]) -> None:
    """Insert or replace rows by key, counting the keys that are new."""
    if not rows:
        return
    width = len(rows[0])
    existed = db.executemany(
        f"DELETE FROM {table} WHERE " + " AND ".join(f"{k} = ?" for k in key),
        [r[: len(key)] for r in rows],
    ).rowcount
    db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * width)})", rows)
    _add_count(db, table, len(rows) - existed)


def _delete(db: sqlite3.Connection, table: str, key: list[str], rows: list[Any]) -> None:
    if not rows:
        return
    gone = db.executemany(
        f"DELETE FROM {table} WHERE " + " AND ".join(f"{k} = ?" for k in key), rows
    ).rowcount
    _add_count(db, table, -gone)

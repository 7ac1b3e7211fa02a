"""The search index by term, kept current by the loader inside each batch's transaction.

Layout (migrations 012-013): a term dictionary (``search_terms``), the words seen
(``search_lexicon``, word -> term, so queries need no stemmer), the indexed articles
(``search_docs``, numbered by ``doc_id``, with the filter columns and ``duplicate_of``) and
the postings (``search_postings``), one row per term and article with the article's lengths
(so scoring a posting needs no look-up in ``search_docs``). Each load writes one
segment: its rows sorted by term, then by the posting's BM25 weight (its term frequency
against its length), highest first, and numbered in blocks of ``BLOCK``; ``search_blocks``
keeps per block what bounds the weight of any posting in it (largest term frequencies,
smallest lengths). A search (``warehouse/views/search_articles.sql``) reads the first block
of each of its terms, which gives a score the k-th best result must reach, then only the
blocks whose bound can still reach it: exact BM25 top-k, at a cost set by k and the terms'
weight distribution rather than by the number of articles. Segments of similar size are
merged 8 into 1 (``merge_segments``): the loader merges the smallest after the batch's commit,
in a transaction of its own (``loader._merge_small_segments``), so a batch is visible to readers
without waiting for a merge; ``compact`` the rest (maintenance's ``merge_search_segments``,
one merge at a time, and ``newsflow search-index --compact``).

Words are stemmed with the Snowball stemmer of the article's detected language
(``search_stemmers``; the fts extension's ``stem``, loaded from the pinned
``duckdb-extension-fts`` package) by the workers that spool a batch (``tasks/postings.py``);
English keeps the Porter stemmer the index always had, so English scores are the fts
extension's BM25. A changed text gets a new ``doc_id``: its old ``search_docs`` row goes
and the old one is listed in ``search_removed`` until a merge drops its postings, so
document frequencies stay exact.

The queries (``search_articles`` and its helpers) are SQL macros over these tables,
callable from any DuckDB that opens the warehouse.
"""

from __future__ import annotations

import duckdb

from newsflow.tasks import contract
from newsflow.tasks.contract import TITLE_BASE as TITLE_BASE
from newsflow.tasks.contract import Table, postings_sql
from newsflow.warehouse import fts
from newsflow.warehouse.db import rows_by_ids

# Segments merge this many at a time; the loader merges only segments of up to INLINE_LOADS
# loads (after its batch's commit), maintenance the rest.
FANOUT = 8
INLINE_LOADS = 8
# Weight levels: a term's postings in a segment fall in blocks by their weight (BM25's
# term-frequency part, 0..1) in LEVELS steps; finer steps bound the weights more tightly
# (fewer postings read per query) at the cost of more rows in search_blocks.
LEVELS = 64
# The index's layout (search_layout): postings carrying their article's lengths (migration 013).
LAYOUT = 13
# The spooled postings' columns (``records.PostingRow``).
_POSTING_COLUMNS = [c.name for c in contract.columns(Table.POSTINGS)]
_INDEX_TABLES = (
    "search_docs",
    "search_postings",
    "search_blocks",
    "search_removed",
    "search_segments",
    "search_terms",
    "search_lexicon",
    "search_layout",
)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _has_positions(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    """Whether spooled postings are today's (``PostingRow``): batches spooled before
    migration 010 hold postings per article, which the spool reads back with today's
    columns as NULLs; those are recomputed here."""
    return not _count(con, f"SELECT count(*) FROM {relation} WHERE docs IS NULL")


_ARTICLE_COLUMNS = "article_id, title, text, content_hash, language, domain, published_at"


def merge_search_index(con: duckdb.DuckDBPyConnection, *, spooled: bool = False) -> int:
    """Index the batch's new (``fresh``) and changed (``changed``) articles; on the first batch
    after a migration that changed the index's layout (``search_layout``: 012, 013), every
    article. Returns the number of articles indexed.

    ``spooled``: the batch's postings are registered as ``new_postings`` (``tasks/postings.py``,
    computed by the worker); otherwise they are computed here."""
    fts.load(con)
    built = _count(con, "SELECT count(*) FROM search_stats")
    if built and not _current_layout(con):
        built = 0  # an index of an older layout (migration 013 and before): built again, once
        con.execute("DELETE FROM search_stats")
    if not built:
        for table in _INDEX_TABLES:  # whatever an emptied index left behind
            con.execute(f"DELETE FROM {table}")
        con.execute("INSERT INTO search_stats VALUES (1, 0, 0, 0, 1, 1, 1)")
        mark_layout(con)
        older = (
            "SELECT count(*) FROM articles WHERE article_id NOT IN (SELECT article_id FROM fresh)"
        )
        if _count(con, older):  # a warehouse loaded before the index existed: rebuilt once
            return rebuild(con)
    _sync_links(con)
    # A changed article keeps the duplicate_of the warehouse has (read by its key).
    changed = [row[0] for row in con.execute("SELECT article_id FROM changed").fetchall()]
    links = list(
        rows_by_ids(
            con,
            "SELECT article_id, duplicate_of FROM articles WHERE article_id IN ({ids})",
            changed,
        )
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE search_changed_links "
        "(article_id VARCHAR, duplicate_of VARCHAR)"
    )
    if links:
        con.executemany("INSERT INTO search_changed_links VALUES (?, ?)", links)
    use_spooled = spooled and _has_positions(con, "new_postings")
    indexed = index_articles(
        con,
        f"SELECT {_ARTICLE_COLUMNS}, duplicate_of FROM fresh UNION ALL "
        f"SELECT c.* EXCLUDE (duplicate_of), l.duplicate_of FROM ("
        f"  SELECT {_ARTICLE_COLUMNS}, duplicate_of FROM changed) c "
        "LEFT JOIN search_changed_links l USING (article_id)",
        may_be_indexed=bool(changed),
        postings="new_postings" if use_spooled else None,
        numbered="new_articles" if use_spooled else None,
        merge=False,  # after the commit (loader._merge_small_segments)
    )
    con.execute("DROP TABLE IF EXISTS search_changed_links")
    return indexed


def _current_layout(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(_count(con, f"SELECT count(*) FROM search_layout WHERE version >= {LAYOUT}"))


def mark_layout(con: duckdb.DuckDBPyConnection) -> None:
    """Record that the (empty or rebuilt) index has today's layout."""
    if not _current_layout(con):
        con.execute("DELETE FROM search_layout")
        con.execute(f"INSERT INTO search_layout VALUES ({LAYOUT})")


def _sync_links(con: duckdb.DuckDBPyConnection) -> None:
    """A batch of revisions or a relink rewrites ``duplicate_of`` (and derived columns) of
    stored articles: the index's copies follow. Other batches change only their own
    articles, which ``index_articles`` reads."""
    rewrites = _count(
        con,
        "SELECT count(*) FROM duckdb_views() WHERE view_name IN ('new_revisions', 'new_relink')",
    )
    if not rewrites:
        return
    con.execute(
        "UPDATE search_docs SET duplicate_of = a.duplicate_of, domain = a.domain, "
        "published_at = coalesce(a.published_at, search_docs.published_at) FROM articles a "
        "WHERE a.article_id = search_docs.article_id AND ("
        "  a.duplicate_of IS DISTINCT FROM search_docs.duplicate_of "
        "  OR a.domain IS DISTINCT FROM search_docs.domain "
        "  OR (a.published_at IS NOT NULL "
        "      AND a.published_at IS DISTINCT FROM search_docs.published_at))"
    )


def index_articles(
    con: duckdb.DuckDBPyConnection,
    source: str,
    *,
    may_be_indexed: bool = True,
    postings: str | None = None,
    numbered: str | None = None,
    merge: bool = True,
) -> int:
    """Add (or re-index) the articles that ``source`` selects (article_id, title, text,
    content_hash, language, domain, published_at, optionally duplicate_of; each article
    once) as one new segment. ``may_be_indexed=False`` promises none is indexed yet, which
    spares a look at ``search_docs``. ``postings``: a relation holding those articles'
    postings already (``tasks.postings.batch_postings`` of the relation ``numbered``, whose
    articles its ``docs`` number; articles of it not in ``source`` keep their numbers,
    unused). ``merge``: then merge the small segments (``merge_segments``)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE search_batch AS {source}")
    indexed = _count(con, "SELECT count(*) FROM search_batch")
    if not indexed:
        return 0
    has_links = "duplicate_of" in [d[0] for d in con.execute("DESCRIBE search_batch").fetchall()]
    if may_be_indexed:  # articles whose text changed: their old row goes
        con.execute(
            "CREATE OR REPLACE TEMP TABLE search_old AS SELECT * FROM search_docs "
            "WHERE article_id IN (SELECT article_id FROM search_batch)"
        )
        con.execute(
            "DELETE FROM search_docs WHERE article_id IN (SELECT article_id FROM search_old)"
        )
        # Their postings stay until a merge of their segment: document frequencies skip them.
        _mark_removed(con)
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE search_old AS SELECT * FROM search_docs LIMIT 0")
    if postings is None:
        con.execute("CREATE OR REPLACE TEMP TABLE search_new AS " + postings_sql("search_batch"))
        numbered = "search_batch"
    else:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE search_new AS SELECT {', '.join(_POSTING_COLUMNS)} "
            f"FROM {postings}"
        )
    # doc_id = the next free number + the article's number in the batch (as _POSTINGS gives it).
    base = _count(con, "SELECT next_doc_id FROM search_stats")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE search_numbers AS SELECT article_id, "
        f"CAST({base} + row_number() OVER (ORDER BY article_id) - 1 AS INTEGER) AS doc_id "
        f"FROM (SELECT DISTINCT article_id FROM {numbered})"
    )
    link = "b.duplicate_of" if has_links else "CAST(NULL AS VARCHAR)"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE search_new_docs AS "
        "SELECT x.doc_id, b.article_id, b.content_hash, b.language, b.domain, "
        f"coalesce(b.published_at, o.published_at) AS published_at, {link} AS duplicate_of, "
        "CAST(coalesce(n.title_len, 0) AS INTEGER) AS title_len, "
        "CAST(coalesce(n.text_len, 0) AS INTEGER) AS text_len "
        "FROM search_batch b JOIN search_numbers x USING (article_id) "
        f"LEFT JOIN (SELECT {base} + k AS doc_id, sum(a) AS title_len, sum(t) AS text_len FROM ("
        "  SELECT unnest(docs) AS k, unnest(title_tfs) AS a, unnest(text_tfs) AS t "
        "  FROM search_new) GROUP BY k) n ON n.doc_id = x.doc_id "
        "LEFT JOIN search_old o USING (article_id)"
    )
    con.execute("INSERT INTO search_docs SELECT * FROM search_new_docs ORDER BY doc_id")
    # New terms get the next numbers; the dictionary is read for the batch's terms only.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE search_batch_ids AS "
        "SELECT b.stemmer, b.term, t.term_id FROM (SELECT stemmer, term FROM search_new) b "
        "LEFT JOIN (SELECT * FROM search_terms WHERE term IN "
        "           (SELECT term FROM search_new)) t USING (stemmer, term)"
    )
    con.execute(
        "INSERT INTO search_terms SELECT CAST((SELECT next_term_id FROM search_stats) - 1 "
        "  + row_number() OVER (ORDER BY stemmer, term) AS INTEGER), stemmer, term "
        "FROM search_batch_ids WHERE term_id IS NULL"
    )
    con.execute(
        "UPDATE search_batch_ids SET term_id = t.term_id FROM search_terms t "
        "WHERE search_batch_ids.term_id IS NULL AND t.stemmer = search_batch_ids.stemmer "
        "AND t.term = search_batch_ids.term "
        "AND t.term_id >= (SELECT next_term_id FROM search_stats)"
    )
    # Words not seen before with that term.
    con.execute(
        "INSERT INTO search_lexicon "
        "SELECT w.word, w.term_id FROM ("
        "  SELECT DISTINCT unnest(n.words) AS word, i.term_id FROM search_new n "
        "  JOIN search_batch_ids i USING (stemmer, term)) w "
        "ANTI JOIN (SELECT * FROM search_lexicon WHERE word IN "
        "  (SELECT unnest(words) FROM search_new)) l USING (word, term_id) "
        "ORDER BY w.word"
    )
    segment = _count(con, "SELECT next_segment FROM search_stats")
    # The stats before this batch weigh its postings (the batch's own on an empty index).
    con.execute(
        "UPDATE search_stats SET "
        "num_docs = num_docs + (SELECT count(*) FROM search_new_docs) "
        "  - (SELECT count(*) FROM search_old), "
        "title_len = title_len + (SELECT coalesce(sum(title_len), 0) FROM search_new_docs) "
        "  - (SELECT coalesce(sum(title_len), 0) FROM search_old), "
        "text_len = text_len + (SELECT coalesce(sum(text_len), 0) FROM search_new_docs) "
        "  - (SELECT coalesce(sum(text_len), 0) FROM search_old), "
        "next_doc_id = next_doc_id + (SELECT count(*) FROM search_numbers), "
        "next_term_id = greatest(next_term_id, "
        "  (SELECT coalesce(max(term_id), 0) + 1 FROM search_batch_ids)), "
        "next_segment = next_segment + 1 "
        "WHERE id = 1"
    )
    # The batch's postings one row each, in term order (the small per-term table is sorted,
    # the rows keep its order), so the segment needs no sort of its postings.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE search_by_term AS SELECT i.term_id, n.docs, n.title_tfs, "
        "n.text_tfs, n.positions FROM search_new n JOIN search_batch_ids i USING (stemmer, term) "
        "ORDER BY i.term_id"
    )
    flat = (
        f"(SELECT n.term_id, CAST(n.k + {base} AS INTEGER) AS doc_id, n.title_tf, n.text_tf, "
        "n.positions, d.title_len, d.text_len FROM ("
        "  SELECT term_id, unnest(docs) AS k, unnest(title_tfs) AS title_tf, "
        "  unnest(text_tfs) AS text_tf, unnest(positions) AS positions FROM search_by_term) n "
        f"JOIN search_new_docs d ON d.doc_id = n.k + {base})"
    )
    blocks = write_segment(con, segment, flat, ordered=True)
    con.execute("DROP TABLE IF EXISTS search_by_term")
    con.execute(
        "INSERT INTO search_segments SELECT ?, 1, ?, (SELECT count(*) FROM search_numbers), ?, "
        "now()",
        [segment, base, blocks],
    )
    for table in (
        "search_batch",
        "search_old",
        "search_new",
        "search_numbers",
        "search_new_docs",
        "search_batch_ids",
    ):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    if merge:
        merge_segments(con, max_loads=INLINE_LOADS)
    return indexed


def _mark_removed(con: duckdb.DuckDBPyConnection) -> None:
    """List the terms of the articles of ``search_old`` (their indexed texts, which the
    articles merge has just kept in ``article_versions``) in ``search_removed``: recomputed
    from those texts, so nothing is read by term; an article whose indexed text is not
    there has its terms read from its postings (a scan of every posting's doc_id)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE search_old_src AS SELECT o.doc_id, o.language, "
        "lpad(CAST(o.doc_id AS VARCHAR), 12, '0') AS article_id, v.title, v.text "
        "FROM search_old o JOIN article_versions v "
        "ON v.article_id = o.article_id AND v.content_hash = o.content_hash "
        "QUALIFY row_number() OVER (PARTITION BY o.doc_id) = 1"
    )
    con.execute(
        "INSERT INTO search_removed SELECT DISTINCT ids[k + 1], t.term_id FROM ("
        f"  SELECT stemmer, term, unnest(docs) AS k FROM ({postings_sql('search_old_src')})) n "
        "JOIN search_terms t USING (stemmer, term), "
        "(SELECT list(doc_id ORDER BY article_id) AS ids FROM search_old_src)"
    )
    con.execute(
        "INSERT INTO search_removed SELECT DISTINCT p.doc_id, p.term_id FROM search_postings p "
        "WHERE p.doc_id IN (SELECT doc_id FROM search_old "
        "  WHERE doc_id NOT IN (SELECT doc_id FROM search_old_src))"
    )
    con.execute("DROP TABLE IF EXISTS search_old_src")


def write_segment(con: duckdb.DuckDBPyConnection, segment: int, flat: str, *, ordered: bool) -> int:
    """Write the relation ``flat`` (term_id, doc_id, title_tf, text_tf, positions, title_len,
    text_len; ``ordered``: already in term order) as segment ``segment``: each posting, with
    its article's lengths, in the block of its weight level (block 0 the highest), rows in
    term order, and the blocks' bounds. The weight is
    BM25's term-frequency part at the default title weight (2) and the average length of
    the time; the blocks' bounds, not the levels, keep queries exact, whatever the title
    weight and however the average length moves. Returns the number of blocks."""
    row = con.execute(
        "SELECT CASE WHEN num_docs > 0 THEN (2 * title_len + text_len) / num_docs END "
        "FROM search_stats"
    ).fetchone()
    avgdl = max(float(row[0]) if row and row[0] else 1.0, 1.0)
    tf, length = "(2 * title_tf + text_tf)", "(2 * title_len + text_len)"
    weight = f"{tf} / ({tf} + 1.2 * (0.25 + 0.75 * {length} / {avgdl!r}))"
    top = int(LEVELS) - 1
    block = f"CAST({top} - least(floor({weight} * {int(LEVELS)}), {top}) AS INTEGER)"
    con.execute(
        "INSERT INTO search_postings (segment, term_id, block, doc_id, title_tf, text_tf, "
        f"positions, title_len, text_len) SELECT ?, term_id, {block} AS block, doc_id, title_tf, "
        f"text_tf, positions, title_len, text_len FROM {flat}"
        + ("" if ordered else " ORDER BY term_id, block"),
        [segment],
    )
    con.execute(
        f"INSERT INTO search_blocks SELECT ?, term_id, {block} AS block, count(*), "
        "max(title_tf), max(text_tf), min(title_len), min(text_len), max(2 * title_tf + text_tf), "
        "min((2 * title_len + text_len) / (2 * title_tf + text_tf)) "
        f"FROM {flat} GROUP BY term_id, block ORDER BY term_id, block",
        [segment],
    )
    return _count(con, f"SELECT count(*) FROM search_blocks WHERE segment = {int(segment)}")


REBUILD_CHUNK = 20_000


def rebuild(con: duckdb.DuckDBPyConnection, chunk: int = REBUILD_CHUNK) -> int:
    """Index every article into an empty index, ``chunk`` articles (by rowid ranges, which
    read only their row groups) per segment so memory stays bounded, then merge. Returns the
    number of articles indexed."""
    mark_layout(con)
    # The chunks that hold rows (rows of the open transaction, this batch's, have rowids far
    # above the others).
    chunks = [
        int(row[0])
        for row in con.execute(
            f"SELECT DISTINCT rowid // {chunk} AS c FROM articles ORDER BY c"
        ).fetchall()
    ]
    indexed = 0
    for low, high in [(c * chunk, c * chunk + chunk - 1) for c in chunks]:
        indexed += index_articles(
            con,
            f"SELECT {_ARTICLE_COLUMNS}, duplicate_of FROM articles "
            f"WHERE rowid BETWEEN {low} AND {high}",
            may_be_indexed=False,
            merge=False,
        )
    merge_segments(con)
    return indexed


def merge_due(con: duckdb.DuckDBPyConnection, *, max_loads: int | None = INLINE_LOADS) -> bool:
    """Whether ``merge_segments(max_loads=...)`` has a merge to do (one read of
    ``search_segments``, a few dozen rows): what the loader asks after each commit."""
    return _pick(con, max_loads) is not None


def _pick(con: duckdb.DuckDBPyConnection, max_loads: int | None) -> list[int] | None:
    """The next merge: ``FANOUT`` segments of the smallest size class (loads held, in powers
    of ``FANOUT``) that holds that many, oldest first; None when there is none, or when its
    result would hold more than ``max_loads`` loads."""
    rows = con.execute(
        "SELECT segment, loads FROM search_segments ORDER BY first_doc NULLS FIRST, segment"
    ).fetchall()
    groups: dict[int, list[tuple[int, int]]] = {}
    for segment, loads in rows:
        size_class = 0
        while FANOUT ** (size_class + 1) <= loads:
            size_class += 1
        groups.setdefault(size_class, []).append((int(segment), int(loads)))
    for size_class in sorted(groups):
        members = groups[size_class]
        if len(members) >= FANOUT:
            picked = members[:FANOUT]
            if max_loads is not None and sum(n for _, n in picked) > max_loads:
                return None
            return [s for s, _ in picked]
    return None


def merge_next(con: duckdb.DuckDBPyConnection) -> bool:
    """The next merge due (``_pick``), whatever its size; whether there was one."""
    picked = _pick(con, None)
    if picked is not None:
        _merge(picked, con)
    return picked is not None


def merge_segments(con: duckdb.DuckDBPyConnection, *, max_loads: int | None = None) -> int:
    """Merge groups of ``FANOUT`` segments of the same size class into one, smallest first,
    until no class holds ``FANOUT`` (``_pick``); ``max_loads``: only merges whose result
    holds at most that many loads (what the loader does after a commit). Returns the number
    of merges."""
    merges = 0
    while (picked := _pick(con, max_loads)) is not None:
        _merge(picked, con)
        merges += 1
    return merges


def _merge(segments: list[int], con: duckdb.DuckDBPyConnection) -> None:
    ids = ", ".join(str(int(s)) for s in segments)
    target = _count(con, "SELECT next_segment FROM search_stats")
    con.execute("UPDATE search_stats SET next_segment = next_segment + 1 WHERE id = 1")
    # Postings of removed articles (changed texts) are dropped here, and so is their mark.
    con.execute(
        "DELETE FROM search_removed WHERE doc_id IN "
        f"(SELECT doc_id FROM search_postings WHERE segment IN ({ids}))"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE search_flat AS "
        "SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.positions, d.title_len, "
        "d.text_len FROM search_postings p JOIN search_docs d USING (doc_id) "
        f"WHERE p.segment IN ({ids})"
    )
    blocks = write_segment(con, target, "search_flat", ordered=False)
    con.execute("DROP TABLE IF EXISTS search_flat")
    con.execute(
        "INSERT INTO search_segments SELECT ?, sum(loads), min(first_doc), sum(docs), ?, now() "
        f"FROM search_segments WHERE segment IN ({ids})",
        [target, blocks],
    )
    con.execute(f"DELETE FROM search_postings WHERE segment IN ({ids})")
    con.execute(f"DELETE FROM search_blocks WHERE segment IN ({ids})")
    con.execute(f"DELETE FROM search_segments WHERE segment IN ({ids})")


def compact(con: duckdb.DuckDBPyConnection) -> int:
    """Every merge due, whatever its size (``newsflow search-index --compact``): the
    maintenance that keeps a term's postings in a few segments. Returns the merges done."""
    return merge_segments(con)

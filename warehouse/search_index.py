"""The search index by term, kept current by the loader inside each batch's transaction.

Layout (migration 010): a term dictionary (``search_terms``), the words seen
(``search_lexicon``, word -> term, so queries need no stemmer), the indexed articles
(``search_docs``, numbered by ``doc_id``) and the postings in blocks (``search_blocks``): one
row per (segment, term) holding the term's articles, term frequencies and word positions as
lists. Each load writes one segment, its rows sorted by term, so a search reads only the row
groups whose ``term_id`` range holds its terms (DuckDB's min/max pruning, driven by the join
with the query's terms) instead of every posting. Segments of similar size are merged 8 into
1 (``merge_segments``): a load merges the smallest, ``compact`` the rest, so a term's
postings sit in a few blocks whatever the warehouse's size.

Words are stemmed with the Snowball stemmer of the article's detected language
(``search_stemmers``; the fts extension's ``stem``, loaded from the pinned
``duckdb-extension-fts`` package) by the workers that spool a batch (``tasks/postings.py``);
English keeps the Porter stemmer the index always had, so English scores are the fts
extension's BM25. Document frequencies are counted at query time from the blocks read, so a
changed text needs no bookkeeping: its old ``search_docs`` row goes, and the old postings
are ignored by queries (their articles are no longer in ``search_docs``).

The queries (``search_articles`` and its helpers) are SQL macros over these tables
(``warehouse/views/search_articles.sql``), callable from any DuckDB that opens the warehouse.
"""

from __future__ import annotations

import duckdb

from newsflow.tasks import contract
from newsflow.tasks.contract import TITLE_BASE as TITLE_BASE
from newsflow.tasks.contract import Table, postings_sql
from newsflow.warehouse import fts

# Segments merge this many at a time; a load merges only segments of up to INLINE_LOADS loads.
FANOUT = 8
INLINE_LOADS = 8
# Most articles in one row of search_blocks (a load's rows hold at most its own articles).
BLOCK = 1024
# The spooled postings' columns (``records.PostingRow``).
_POSTING_COLUMNS = [c.name for c in contract.columns(Table.POSTINGS)]


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
    after migration 010, every article. Returns the number of articles indexed.

    ``spooled``: the batch's postings are registered as ``new_postings`` (``tasks/postings.py``,
    computed by the worker); otherwise they are computed here."""
    fts.load(con)
    if not _count(con, "SELECT count(*) FROM search_stats"):
        con.execute("INSERT INTO search_stats VALUES (1, 0, 0, 0, 1, 1, 1)")
        older = (
            "SELECT count(*) FROM articles WHERE article_id NOT IN (SELECT article_id FROM fresh)"
        )
        if _count(con, older):  # a warehouse loaded before the index existed: rebuilt once
            return rebuild(con)
    use_spooled = spooled and _has_positions(con, "new_postings")
    return index_articles(
        con,
        f"SELECT {_ARTICLE_COLUMNS} FROM fresh UNION ALL SELECT {_ARTICLE_COLUMNS} FROM changed",
        may_be_indexed=_count(con, "SELECT count(*) FROM changed") > 0,
        postings="new_postings" if use_spooled else None,
        numbered="new_articles" if use_spooled else None,
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
    content_hash, language, domain, published_at; each article once) as one new segment.
    ``may_be_indexed=False`` promises none is indexed yet, which spares a look at
    ``search_docs``. ``postings``: a relation holding those articles' postings already
    (``tasks.postings.batch_postings`` of the relation ``numbered``, whose articles its
    ``docs`` number; articles of it not in ``source`` keep their numbers, unused).
    ``merge``: then merge the small segments (``merge_segments``)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE search_batch AS {source}")
    indexed = _count(con, "SELECT count(*) FROM search_batch")
    if not indexed:
        return 0
    if may_be_indexed:  # articles whose text changed: their old row goes
        con.execute(
            "CREATE OR REPLACE TEMP TABLE search_old AS SELECT * FROM search_docs "
            "WHERE article_id IN (SELECT article_id FROM search_batch)"
        )
        con.execute(
            "DELETE FROM search_docs WHERE article_id IN (SELECT article_id FROM search_old)"
        )
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
    con.execute(
        "CREATE OR REPLACE TEMP TABLE search_new_docs AS "
        "SELECT x.doc_id, b.article_id, b.content_hash, b.language, b.domain, "
        "coalesce(b.published_at, o.published_at) AS published_at, "
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
    con.execute(
        "INSERT INTO search_blocks "
        f"SELECT ?, i.term_id, list_transform(n.docs, k -> CAST(k + {base} AS INTEGER)), "
        "n.title_tfs, n.text_tfs, n.positions "
        "FROM search_new n JOIN search_batch_ids i USING (stemmer, term) ORDER BY i.term_id",
        [segment],
    )
    con.execute(
        "INSERT INTO search_segments SELECT ?, 1, ?, (SELECT count(*) FROM search_numbers), "
        "(SELECT count(*) FROM search_new), now()",
        [segment, base],
    )
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


REBUILD_CHUNK = 20_000


def rebuild(con: duckdb.DuckDBPyConnection, chunk: int = REBUILD_CHUNK) -> int:
    """Index every article into an empty index, ``chunk`` articles (by rowid ranges, which
    read only their row groups) per segment so memory stays bounded, then merge. Returns the
    number of articles indexed."""
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
            f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE rowid BETWEEN {low} AND {high}",
            may_be_indexed=False,
            merge=False,
        )
    merge_segments(con)
    return indexed


def merge_segments(con: duckdb.DuckDBPyConnection, *, max_loads: int | None = None) -> int:
    """Merge groups of ``FANOUT`` segments of the same size class (loads held, in powers of
    ``FANOUT``) into one, smallest first, until no class holds ``FANOUT``; ``max_loads``:
    only merges whose result holds at most that many loads (what a load does itself).
    Returns the number of merges."""
    merges = 0
    while True:
        rows = con.execute(
            "SELECT segment, loads FROM search_segments ORDER BY first_doc NULLS FIRST, segment"
        ).fetchall()
        groups: dict[int, list[tuple[int, int]]] = {}
        for segment, loads in rows:
            size_class = 0
            while FANOUT ** (size_class + 1) <= loads:
                size_class += 1
            groups.setdefault(size_class, []).append((int(segment), int(loads)))
        picked: list[tuple[int, int]] | None = None
        for size_class in sorted(groups):
            members = groups[size_class]
            if len(members) >= FANOUT:
                picked = members[:FANOUT]
                break
        if picked is None:
            return merges
        loads = sum(n for _, n in picked)
        if max_loads is not None and loads > max_loads:
            return merges
        _merge([s for s, _ in picked], con)
        merges += 1


def _merge(segments: list[int], con: duckdb.DuckDBPyConnection) -> None:
    ids = ", ".join(str(s) for s in segments)
    target = _count(con, "SELECT next_segment FROM search_stats")
    # A term's blocks are concatenated (segments hold disjoint articles); one list of structs
    # keeps the four lists aligned without an ordered aggregate.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE search_merged AS "
        "SELECT term_id, flatten(list_transform(b, x -> x.d)) AS doc_ids, "
        "flatten(list_transform(b, x -> x.a)) AS title_tfs, "
        "flatten(list_transform(b, x -> x.b)) AS text_tfs, "
        "flatten(list_transform(b, x -> x.p)) AS positions FROM ("
        "  SELECT term_id, list({'d': doc_ids, 'a': title_tfs, 'b': text_tfs, 'p': positions}) "
        f"  AS b FROM search_blocks WHERE segment IN ({ids}) GROUP BY term_id)"
    )
    # Rows of at most BLOCK articles: DuckDB reads a row's lists with its whole vector of
    # rows, so bounded rows keep a rare term's lookup bounded however large the index grows.
    con.execute(
        "INSERT INTO search_blocks SELECT ?, term_id, "
        f"list_slice(doc_ids, s + 1, s + {BLOCK}), list_slice(title_tfs, s + 1, s + {BLOCK}), "
        f"list_slice(text_tfs, s + 1, s + {BLOCK}), list_slice(positions, s + 1, s + {BLOCK}) "
        f"FROM (SELECT *, unnest(range(0, len(doc_ids), {BLOCK})) AS s FROM search_merged) "
        "ORDER BY term_id, s",
        [target],
    )
    con.execute(
        "INSERT INTO search_segments SELECT ?, sum(loads), min(first_doc), sum(docs), "
        f"(SELECT count(*) FROM search_blocks WHERE segment = {target}), now() "
        "FROM search_segments "
        f"WHERE segment IN ({ids})",
        [target],
    )
    con.execute(f"DELETE FROM search_blocks WHERE segment IN ({ids})")
    con.execute(f"DELETE FROM search_segments WHERE segment IN ({ids})")
    con.execute("UPDATE search_stats SET next_segment = next_segment + 1 WHERE id = 1")
    con.execute("DROP TABLE IF EXISTS search_merged")


def compact(con: duckdb.DuckDBPyConnection) -> int:
    """Every merge due, whatever its size (``newsflow search-index --compact``): the
    maintenance that keeps a term's postings in a few blocks. Returns the merges done."""
    return merge_segments(con)

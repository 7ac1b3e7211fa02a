"""The loader's incremental search index: the fts extension's BM25 scores, the same index as a
fresh build after many loads, and changed texts leave no stale words behind."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from newsflow.settings import Settings
from newsflow.tasks.process import process_candidates
from newsflow.tasks.records import Candidate
from newsflow.tasks.spool import write_batch
from newsflow.warehouse import fts
from newsflow.warehouse.db import connect_writer
from newsflow.warehouse.loader import load_spool
from newsflow.warehouse.search_index import index_articles
from tests.analyst_fixture import FixtureWarehouse

QUERIES = [
    "interest rates inflation",
    "the storms",
    "penalty shootout championship",
    "Klimaschutzgesetz Regierung",
    "réforme retraites",
    "museum maps correction",
    "bank",
]


@pytest.fixture
def writable(analyst_warehouse: FixtureWarehouse, tmp_path: Path) -> Iterator[Any]:
    """A private, writable copy of the fixture warehouse."""
    path = tmp_path / "copy.duckdb"
    shutil.copyfile(analyst_warehouse.db, path)
    con = connect_writer(path, 10)
    fts.create_search_macro(con)
    yield con
    con.close()


def _index_state(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    postings = con.execute(
        "SELECT p.term, p.article_id, p.title_tf, p.text_tf FROM search_postings p "
        "JOIN search_docs d ON d.article_id = p.article_id AND d.version = p.version ORDER BY ALL"
    ).fetchall()
    terms = con.execute("SELECT term, df FROM search_terms WHERE df <> 0 ORDER BY ALL").fetchall()
    docs = con.execute(
        "SELECT article_id, content_hash, title_len, text_len FROM search_docs ORDER BY ALL"
    ).fetchall()
    stats = con.execute("SELECT num_docs, title_len, text_len FROM search_stats").fetchall()
    return postings, terms, docs, stats


def test_scores_are_the_fts_extensions_bm25(writable: duckdb.DuckDBPyConnection) -> None:
    # The extension's own index, built whole with the same tokenization and stop words.
    writable.execute(
        "PRAGMA create_fts_index('articles', 'article_id', 'title', 'text', stemmer = 'porter', "
        "stopwords = 'search_stopwords', ignore = '[^\\p{L}\\p{N}]+', strip_accents = 1, "
        "lower = 1, overwrite = 1)"
    )
    for query in QUERIES:
        theirs = dict(
            writable.execute(
                "SELECT article_id, score FROM (SELECT article_id, "
                "fts_main_articles.match_bm25(article_id, ?) AS score FROM articles) "
                "WHERE score IS NOT NULL",
                [query],
            ).fetchall()
        )
        ours = dict(
            writable.execute(
                "SELECT article_id, score FROM search_articles(?, title_weight := 1, "
                "include_duplicates := true, max_results := 1000)",
                [query],
            ).fetchall()
        )
        assert theirs, query
        assert ours.keys() == theirs.keys(), query
        for article_id, score in theirs.items():
            assert ours[article_id] == pytest.approx(score, rel=1e-9), (query, article_id)


def test_incremental_index_equals_a_fresh_build(writable: duckdb.DuckDBPyConnection) -> None:
    # The fixture's index grew over three loads, one of which changed an article's text.
    assert writable.execute("SELECT max(version) FROM search_docs").fetchone() == (2,)
    incremental = _index_state(writable)
    for table in ("search_docs", "search_postings", "search_terms", "search_stats"):
        writable.execute(f"DELETE FROM {table}")
    writable.execute("INSERT INTO search_stats VALUES (1, 0, 0, 0)")
    fts.load(writable)
    index_articles(writable, "SELECT article_id, title, text, content_hash FROM articles")
    assert _index_state(writable) == incremental


def _load(settings: Settings, url: str, text: str) -> None:
    candidate = Candidate(origin="url", source=url, url=url, title="Notice", text=text)
    write_batch(process_candidates([candidate], "run"), settings.spool)
    load_spool(settings.db, settings.spool, lock_wait=10)


def test_a_changed_text_leaves_no_stale_words(settings: Settings) -> None:
    _load(settings, "https://example.com/a", "The harbour closes for repairs on Monday.")
    _load(settings, "https://example.com/b", "Repairs to the bridge finish on Friday.")
    _load(settings, "https://example.com/a", "The harbour reopens after storm damage.")
    con = connect_writer(settings.db, 10)
    try:
        fts.create_search_macro(con)

        def found(query: str) -> list[str]:
            rows = con.execute("SELECT url FROM search_articles(?)", [query]).fetchall()
            return [row[0] for row in rows]

        assert found("harbour") == ["https://example.com/a"]
        assert found("reopens storm") == ["https://example.com/a"]
        assert found("repairs") == ["https://example.com/b"]  # no longer in article a
        assert found("monday") == []
        df = dict(
            con.execute(
                "SELECT w, df FROM search_terms JOIN (SELECT unnest(['repairs', 'harbour', "
                "'monday', 'reopens']) AS w) ON term = stem(w, 'porter')"
            ).fetchall()
        )
        assert df == {"repairs": 1, "harbour": 1, "monday": 0, "reopens": 1}
        assert con.execute("SELECT num_docs FROM search_stats").fetchone() == (2,)
        state = _index_state(con)
        for table in ("search_docs", "search_postings", "search_terms", "search_stats"):
            con.execute(f"DELETE FROM {table}")
        # The first load after the index is emptied (or after migration 004 on an existing
        # warehouse) indexes every article.
    finally:
        con.close()
    _load(settings, "https://example.com/c", "A third notice about the ferry.")
    con = connect_writer(settings.db, 10)
    try:
        assert con.execute("SELECT num_docs FROM search_stats").fetchone() == (3,)
        rebuilt = _index_state(con)
        assert set(state[0]) <= set(rebuilt[0])
    finally:
        con.close()


# The words as the fts extension makes them (lower(strip_accents(s)) split on letters and
# digits): the reference the loader's cheaper formulation must match exactly.
_REFERENCE = """
SELECT stem(w, 'porter') AS term, article_id,
       CAST(count(*) FILTER (WHERE field = 1) AS INTEGER) AS title_tf,
       CAST(count(*) FILTER (WHERE field = 2) AS INTEGER) AS text_tf
FROM (SELECT article_id, 1 AS field, unnest(search_tokenize(title)) AS w FROM src
      UNION ALL SELECT article_id, 2, unnest(search_tokenize(text)) FROM src)
WHERE length(w) > 0 AND w NOT IN (SELECT word FROM search_stopwords)
GROUP BY ALL ORDER BY ALL
"""

AWKWARD_TEXTS = [
    ("İstanbul Ǆemal naïve", "Żółć gęślą jaźń, ĲSSEL. café CAFÉ Café e\u0301te\u0301"),
    ("कितना अच्छा है", "क़िताब किताब हिन्दी ≠ Ångström Å"),
    ("ﬁnance Straße ΣΊΣΥΦΟΣ", "Ｆｕｌｌｗｉｄｔｈ ①②③ ½ x² \u0301\u0301 a\u0301b ǅ ǈ"),
    ("The Fed's “rate” decision", "It’s the economy — and the economy's rates, rating, rated."),
    ("Türkçe ve العربية", "日本語の文章 とカタカナ 中文 한국어 Ελληνικά русский текст ё Ё"),
]


def test_batch_postings_are_the_extensions_words() -> None:
    import pyarrow as pa

    from newsflow.tasks.postings import batch_postings
    from newsflow.tasks.postings import postings_connection as _postings_connection

    articles = pa.table(
        {
            "article_id": [f"a{i}" for i in range(len(AWKWARD_TEXTS))],
            "title": [t for t, _ in AWKWARD_TEXTS],
            "text": [x for _, x in AWKWARD_TEXTS],
        }
    )
    got = sorted(batch_postings(articles).to_pylist(), key=lambda r: tuple(r.values()))
    con = _postings_connection()
    con.register("src", articles)
    try:
        want = [
            dict(zip(("term", "article_id", "title_tf", "text_tf"), row, strict=True))
            for row in con.execute(_REFERENCE).fetchall()
        ]
    finally:
        con.unregister("src")
    assert got == sorted(want, key=lambda r: tuple(r.values()))
    assert len(got) > 40

"""The loader's incremental search index: the fts extension's BM25 scores, the same index as a
fresh build after many loads, changed texts leave no stale words behind, merged segments
answer as before, stemming follows each article's language, and the query syntax (AND, OR,
NOT, -word, "phrases") and filters mean what the README says, from SQL and the CLI."""

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


# The live postings, by article and term rather than by the numbers the index gave them.
_POSTINGS_BY_ARTICLE = """
SELECT t.stemmer, t.term, d.article_id, p.title_tf, p.text_tf, p.positions
FROM search_postings p JOIN search_docs d USING (doc_id) JOIN search_terms t USING (term_id)
ORDER BY ALL
"""


def _index_state(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    postings = con.execute(_POSTINGS_BY_ARTICLE).fetchall()
    lexicon = con.execute(
        "SELECT l.word, t.stemmer, t.term FROM search_lexicon l JOIN search_terms t "
        "USING (term_id) WHERE t.term_id IN (SELECT term_id FROM search_blocks) ORDER BY ALL"
    ).fetchall()
    docs = con.execute(
        "SELECT article_id, content_hash, language, domain, published_at, title_len, text_len "
        "FROM search_docs ORDER BY ALL"
    ).fetchall()
    stats = con.execute("SELECT num_docs, title_len, text_len FROM search_stats").fetchall()
    return postings, lexicon, docs, stats


def _reset_index(con: duckdb.DuckDBPyConnection) -> None:
    for table in (
        "search_docs",
        "search_postings",
        "search_blocks",
        "search_removed",
        "search_terms",
        "search_lexicon",
        "search_segments",
        "search_stats",
    ):
        con.execute(f"DELETE FROM {table}")


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
    assert writable.execute("SELECT count(*) FROM search_segments").fetchone() == (3,)
    assert writable.execute("SELECT max(doc_id) > count(*) FROM search_docs").fetchone() == (True,)
    incremental = _index_state(writable)
    _reset_index(writable)
    writable.execute("INSERT INTO search_stats VALUES (1, 0, 0, 0, 1, 1, 1)")
    fts.load(writable)
    index_articles(
        writable,
        "SELECT article_id, title, text, content_hash, language, domain, published_at "
        "FROM articles",
    )
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
        articles_by_word = dict(
            con.execute(
                "SELECT t.term, count(DISTINCT d.article_id) FROM search_postings b "
                "JOIN search_terms t USING (term_id) "
                "JOIN search_docs d ON d.doc_id = b.doc_id "
                "WHERE t.term IN ('repair', 'harbour', 'mondai', 'reopen') GROUP BY ALL"
            ).fetchall()
        )
        assert articles_by_word == {"repair": 1, "harbour": 1, "reopen": 1}
        # The old text's terms are listed as removed (recomputed from the kept version), so
        # document frequencies leave its postings out until a merge drops them.
        removed = con.execute(
            "SELECT t.term FROM search_removed r JOIN search_terms t USING (term_id) ORDER BY 1"
        ).fetchall()
        assert removed == [("close",), ("harbour",), ("mondai",), ("notic",), ("repair",)]
        assert con.execute("SELECT num_docs FROM search_stats").fetchone() == (2,)
        state = _index_state(con)
        _reset_index(con)
        # The first load after the index is emptied (or after migration 010 on an existing
        # warehouse) indexes every article.
    finally:
        con.close()
    _load(settings, "https://example.com/c", "A third notice about the ferry.")
    con = connect_writer(settings.db, 10)
    try:
        assert con.execute("SELECT num_docs FROM search_stats").fetchone() == (3,)
        rebuilt = _index_state(con)
        assert all(row in rebuilt[0] for row in state[0])
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
            "language": ["en"] * len(AWKWARD_TEXTS),  # the Porter stemmer
        }
    )
    ids = sorted(articles.column("article_id").to_pylist())  # docs: ranks by article_id
    got = sorted(
        (
            {"term": r["term"], "article_id": ids[k], "title_tf": a, "text_tf": b}
            for r in batch_postings(articles).to_pylist()
            for k, a, b in zip(r["docs"], r["title_tfs"], r["text_tfs"], strict=True)
        ),
        key=lambda r: tuple(r.values()),
    )
    con = _postings_connection()
    con.register("src", articles.select(["article_id", "title", "text"]))
    try:
        want = [
            dict(zip(("term", "article_id", "title_tf", "text_tf"), row, strict=True))
            for row in con.execute(_REFERENCE).fetchall()
        ]
    finally:
        con.unregister("src")
    assert got == sorted(want, key=lambda r: tuple(r.values()))
    assert len(got) > 40


def _titles(con: duckdb.DuckDBPyConnection, query: str, **params: Any) -> list[str]:
    named = "".join(f", {name} := ?" for name in params)
    rows = con.execute(
        f"SELECT title FROM search_articles(?{named}, max_results := 100)",
        [query, *params.values()],
    ).fetchall()
    return [row[0] for row in rows]


RATES = "Central bank raises interest rates to curb inflation"
MARKETS = "Markets calm before results"
FOOTBALL = "Home side wins title on penalties"


@pytest.fixture
def live(analyst_warehouse: FixtureWarehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """The live warehouse as an analyst's own DuckDB opens it: read-only, no extension."""
    con = duckdb.connect(
        str(analyst_warehouse.db),
        read_only=True,
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    yield con
    con.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("interest rates", [RATES, MARKETS]),  # bare words: any, best first
        ("interest AND inflation", [RATES]),
        ("inflation AND interest", [RATES]),
        ("+interest +oil", [MARKETS]),
        ("interest -inflation", [MARKETS]),
        ("interest NOT inflation", [MARKETS]),
        ("interest AND NOT inflation", [MARKETS]),
        ("oil OR penalties", [FOOTBALL, MARKETS]),
        ('"interest rates"', [RATES, MARKETS]),  # title of one, text of both
        ('"rates interest"', []),
        ('"curb inflation"', [RATES]),
        ('"price of oil"', [MARKETS]),  # the stop word keeps its place
        ('"price oil"', []),
        ('"price the oil"', [MARKETS]),  # a stop word's place counts, not which one
        ('"interest rates" AND inflation', [RATES]),
        ('"interest rates" -"curb inflation"', [MARKETS]),
        ("interest AND qqxnowhere", []),
        ("interest qqxnowhere", [RATES, MARKETS]),
        ("the AND of", []),  # stop words only
    ],
)
def test_query_syntax(live: duckdb.DuckDBPyConnection, query: str, expected: list[str]) -> None:
    assert sorted(_titles(live, query)) == sorted(expected), query


def test_filters(live: duckdb.DuckDBPyConnection) -> None:
    assert _titles(live, "penalty shootout", domain="regionaltimes.org") == [FOOTBALL]
    assert _titles(live, "penalty shootout", domain="example-news.com") == []
    assert _titles(live, "penalty", domain="example-news.com", include_duplicates=True) == [
        "Penalty drama decides championship"  # the copy
    ]
    assert _titles(live, "Klimaschutzgesetz", language="de") == [
        "Regierung beschließt Klimaschutzgesetz"
    ]
    assert _titles(live, "Klimaschutzgesetz", language="en") == []
    assert _titles(live, "interest rates", since="2024-03-03") == []
    assert _titles(live, "interest rates", until="2024-03-01") == [RATES]
    assert _titles(live, "interest rates", since="2024-03-02", until="2024-03-02") == [MARKETS]


def test_results_are_shown_whatever_their_date_in_articles(
    writable: duckdb.DuckDBPyConnection,
) -> None:
    """The rows shown are read from articles by id and date (so a lake reads only their
    days' files): an article whose date went (the index keeps its last one) and one whose
    date the index does not hold are shown all the same, with the articles' values."""
    con = writable
    before = con.execute("SELECT * FROM search_articles('interest rates')").fetchall()
    assert [row[2] for row in before] == [RATES, MARKETS]
    dated = {row[2]: row[0] for row in before}
    con.execute("UPDATE articles SET published_at = NULL WHERE article_id = ?", [dated[RATES]])
    con.execute(
        "UPDATE articles SET published_at = published_at - INTERVAL 400 DAY WHERE article_id = ?",
        [dated[MARKETS]],
    )
    after = con.execute("SELECT * FROM search_articles('interest rates')").fetchall()
    want = con.execute(
        "SELECT article_id, title, domain, published_at, language, url, duplicate_of, "
        "word_count FROM articles WHERE article_id IN (?, ?)",
        [dated[RATES], dated[MARKETS]],
    ).fetchall()
    assert sorted(row[0] for row in after) == sorted(dated.values())
    assert sorted(row[:1] + row[2:] for row in after) == sorted(want)
    assert [row[1] for row in after] == [row[1] for row in before]  # scores unchanged


def test_search_works_from_newsflow_sql_on_the_live_warehouse(
    analyst_warehouse: FixtureWarehouse,
) -> None:
    from typer.testing import CliRunner

    from newsflow.cli import app

    result = CliRunner().invoke(
        app,
        [
            "sql",
            "SELECT title FROM search_articles('\"curb inflation\" OR penalties') ORDER BY 1",
            "--csv",
            "--db",
            str(analyst_warehouse.db),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["title", RATES, FOOTBALL]


def test_search_command_options(analyst_warehouse: FixtureWarehouse) -> None:
    from typer.testing import CliRunner

    from newsflow.cli import app

    def run(*args: str) -> list[str]:
        result = CliRunner().invoke(app, ["search", *args, "--db", str(analyst_warehouse.db)])
        assert result.exit_code == 0, result.output
        return [line for line in result.stdout.splitlines() if line[:4].strip().endswith(".")]

    assert len(run("interest AND inflation")) == 1
    assert len(run("interest rates", "--until", "2024-03-01")) == 1
    assert run("Klimaschutzgesetz", "--language", "en") == []
    assert len(run("Klimaschutzgesetz", "--language", "de")) == 1
    assert len(run('"price of oil"', "--domain", "example-news.com")) == 1


def _load_many(settings: Settings, items: list[tuple[str, str, str]]) -> None:
    candidates = [
        Candidate(origin="url", source=url, url=url, title=title, text=text)
        for url, title, text in items
    ]
    write_batch(process_candidates(candidates, "run"), settings.spool)
    load_spool(settings.db, settings.spool, lock_wait=10)


GERMAN = (
    "Die {word} der Länder hat am Mittwoch in Berlin lange über den Haushalt beraten. "
    "Nach Angaben von Teilnehmern wurden viele Fragen der Finanzierung nicht geklärt, und "
    "die Gespräche sollen in der kommenden Woche weitergehen, wie ein Sprecher mitteilte."
)
ENGLISH = (
    "The committee met on Wednesday in London to discuss the budget for the coming year. "
    "A visiting delegation described the {word} of the German states as cautious, and "
    "talks will continue next week, according to a spokesman for the committee."
)


def test_a_batch_spooled_with_per_article_postings_is_indexed_from_its_texts(
    settings: Settings,
) -> None:
    # A batch spooled before migration 010 holds one posting per (term, article); the spool
    # reads it back with today's columns as NULLs and the loader recomputes the postings.
    import pyarrow as pa
    import pyarrow.parquet as pq

    from newsflow.tasks.spool import pending

    _load(settings, "https://example.com/new", "The ferry timetable changes in spring.")
    candidates = [
        Candidate(origin="url", source=u, url=u, title="Notice", text=t)
        for u, t in (
            ("https://example.com/a", "The harbour closes for repairs on Monday."),
            ("https://example.com/b", "Repairs to the bridge finish on Friday."),
        )
    ]
    write_batch(process_candidates(candidates, "run"), settings.spool)
    (batch_id,) = pending(settings.spool)
    old = pa.table(
        {
            "term": ["qqxold"],
            "article_id": ["x"],
            "title_tf": pa.array([1], pa.int32()),
            "text_tf": pa.array([1], pa.int32()),
        }
    )
    pq.write_table(old, Path(settings.spool) / batch_id / "postings.parquet")
    load_spool(settings.db, settings.spool, lock_wait=10)
    con = duckdb.connect(str(settings.db), read_only=True)
    try:
        rows = con.execute("SELECT url FROM search_articles('repairs') ORDER BY 1").fetchall()
        assert rows == [("https://example.com/a",), ("https://example.com/b",)]
        assert con.execute("SELECT url FROM search_articles('ferry')").fetchall() == [
            ("https://example.com/new",)
        ]
        stale = "SELECT count(*) FROM search_terms WHERE term = 'qqxold'"
        assert con.execute(stale).fetchone() == (0,)
        assert con.execute("SELECT num_docs FROM search_stats").fetchone() == (3,)
    finally:
        con.close()


def test_stemming_follows_the_articles_language(settings: Settings) -> None:
    _load_many(
        settings,
        [
            ("https://de.example/a", "Haushalt", GERMAN.format(word="Regierungen")),
            ("https://de.example/b", "Beratung", GERMAN.format(word="Regierung")),
            ("https://en.example/c", "Budget talks", ENGLISH.format(word="Regierungen")),
        ],
    )
    con = duckdb.connect(str(settings.db), read_only=True)
    try:
        languages = dict(con.execute("SELECT url, language FROM articles").fetchall())
        assert languages == {
            "https://de.example/a": "de",
            "https://de.example/b": "de",
            "https://en.example/c": "en",
        }
        stemmers = con.execute(
            "SELECT DISTINCT t.stemmer FROM search_lexicon l JOIN search_terms t USING (term_id) "
            "WHERE l.word = 'regierungen' ORDER BY 1"
        ).fetchall()
        assert stemmers == [("german",), ("porter",)]

        def urls(query: str) -> list[str]:
            rows = con.execute(
                "SELECT url FROM search_articles(?, include_duplicates := true) ORDER BY 1",
                [query],
            ).fetchall()
            return [row[0] for row in rows]

        # German: both forms share the German stem; the English article's foreign word is
        # Porter-stemmed, so only its own form finds it.
        assert urls("Regierung") == ["https://de.example/a", "https://de.example/b"]
        assert urls("Regierungen") == [
            "https://de.example/a",
            "https://de.example/b",
            "https://en.example/c",
        ]
        assert urls("talks") == ["https://en.example/c"]  # talk(s): Porter
    finally:
        con.close()


def test_loads_merge_segments_and_find_new_articles(settings: Settings) -> None:
    from newsflow.warehouse import search_index

    for i in range(search_index.FANOUT + 1):
        _load_many(
            settings,
            [(f"https://n.example/{i}", f"Notice {i}", f"Ferry timetable number{i} changes.")],
        )
    con = connect_writer(settings.db, 10)
    try:
        # Eight one-load segments became one; the ninth load's segment stands alone.
        segments = con.execute("SELECT loads FROM search_segments ORDER BY loads").fetchall()
        assert segments == [(1,), (search_index.FANOUT,)]
        found = con.execute(
            "SELECT count(*) FROM search_articles('ferry timetable', max_results := 100)"
        ).fetchone()
        assert found == (search_index.FANOUT + 1,)
        last = con.execute(
            f"SELECT url FROM search_articles('number{search_index.FANOUT}')"
        ).fetchall()
        assert last == [(f"https://n.example/{search_index.FANOUT}",)]
        # Every article still has its word, in the blocks of its segment.
        rows = con.execute(
            "SELECT s.loads, sum(b.docs) FROM search_blocks b JOIN search_segments s "
            "USING (segment) WHERE b.term_id IN "
            "(SELECT term_id FROM search_lexicon WHERE word = 'ferry') GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert rows == [(1, 1), (search_index.FANOUT, search_index.FANOUT)]
        postings = con.execute(
            "SELECT count(*) FROM search_postings WHERE term_id IN "
            "(SELECT term_id FROM search_lexicon WHERE word = 'ferry')"
        ).fetchone()
        assert postings == (search_index.FANOUT + 1,)
    finally:
        con.close()


_WORDS = [
    "harbour",
    "ferry",
    "storm",
    "bridge",
    "council",
    "budget",
    "minister",
    "election",
    "river",
    "school",
    "hospital",
    "market",
    "energy",
    "railway",
    "museum",
    "festival",
    "police",
    "court",
    "farmer",
    "weather",
    "teacher",
    "doctor",
    "village",
    "tourism",
    "airport",
    "factory",
    "garden",
    "library",
    "theatre",
    "football",
]


def _soup(rng: Any, words: int) -> str:
    """English-looking text over a small vocabulary, word frequencies skewed per article."""
    favourites = rng.sample(_WORDS, 3)
    out = []
    for i in range(words):
        pool = favourites if rng.random() < rng.choice((0.1, 0.3, 0.6)) else _WORDS
        out.append(rng.choice(pool))
        out.append(rng.choice(("the", "and", "of", "was", "for", "with", "in")))
        if i % 9 == 8:
            out[-1] += "."
    return "The " + " ".join(out) + "."


def test_top_results_read_fewer_postings_and_equal_the_full_ranking(
    settings: Settings,
) -> None:
    # Enough articles in several segments that the first blocks give a threshold and the
    # second round skips blocks; the top results must be exactly the full ranking's first.
    import random

    rng = random.Random(5)
    for load in range(4):
        _load_many(
            settings,
            [
                (
                    f"https://site{i % 4}.example/{load}/{i}",
                    " ".join(rng.sample(_WORDS, rng.choice((2, 3, 4)))).capitalize(),
                    _soup(rng, rng.randrange(30, 160)),
                )
                for i in range(60)
            ],
        )
    con = duckdb.connect(str(settings.db), read_only=True)
    try:

        def ranking(query: str, k: int, **params: Any) -> list[tuple[str, float]]:
            named = "".join(f", {name} := ?" for name in params)
            rows = con.execute(
                f"SELECT article_id, score FROM search_articles(?{named}, max_results := {k})",
                [query, *params.values()],
            ).fetchall()
            return [(row[0], row[1]) for row in rows]

        def scored(query: str, k: int) -> int:
            row = con.execute(
                "SELECT count(*) FROM search_scores(?, NULL, NULL, NULL, NULL, true, ?, 2)",
                [query, k],
            ).fetchone()
            return int(row[0]) if row else 0

        queries: list[tuple[str, dict[str, Any]]] = [
            ("harbour", {}),
            ("ferry storm", {}),
            ("budget minister election", {}),
            ("council AND river", {}),
            ("+energy market -railway", {}),
            ('"the harbour"', {}),
            ("football NOT theatre", {"include_duplicates": True}),
            ("school hospital", {"domain": "site1.example"}),
            ("storm weather", {"title_weight": 1}),
        ]
        skipped = 0
        for query, params in queries:
            everything = ranking(query, 10_000, **params)
            assert len(everything) > 5, query
            for k in (1, 3, 5):
                top = ranking(query, k, **params)
                assert [a for a, _ in top] == [a for a, _ in everything[:k]], (query, k)
                for (_, mine), (_, full) in zip(top, everything, strict=False):
                    assert mine == pytest.approx(full, rel=1e-12), (query, k)
            skipped += scored(query, 3) < scored(query, 10_000)
        # The threshold pruned for most queries (not for those with few matches or filters).
        assert skipped >= 4
    finally:
        con.close()


def test_a_relink_brings_the_index_copies_of_duplicate_of_along(settings: Settings) -> None:
    # search_articles leaves copies out by search_docs.duplicate_of: a batch that rewrites
    # links of stored articles (a relink, revisions) brings it to what articles say.
    from newsflow.flows.backfill import request_relink

    text = "The harbour closes for repairs on Monday, the council said in a statement today."
    _load_many(
        settings,
        [("https://a.example/1", "Harbour closes", text), ("https://b.example/2", "Copy", text)],
    )
    con = connect_writer(settings.db, 10)
    try:
        links = "SELECT article_id, duplicate_of FROM {} ORDER BY 1"
        assert (
            con.execute(links.format("search_docs")).fetchall()
            == con.execute(links.format("articles")).fetchall()
        )
        assert con.execute("SELECT count(*) FROM search_articles('harbour')").fetchone() == (1,)
        con.execute("UPDATE search_docs SET duplicate_of = NULL")  # as if stale
        assert con.execute("SELECT count(*) FROM search_articles('harbour')").fetchone() == (2,)
    finally:
        con.close()
    request_relink.fn("relink-run", settings)
    load_spool(settings.db, settings.spool, lock_wait=10)
    con = duckdb.connect(str(settings.db), read_only=True)
    try:
        assert (
            con.execute(links.format("search_docs")).fetchall()
            == con.execute(links.format("articles")).fetchall()
        )
        assert con.execute("SELECT count(*) FROM search_articles('harbour')").fetchone() == (1,)
    finally:
        con.close()


def test_an_index_of_the_layout_before_013_is_built_again_by_the_next_load(
    settings: Settings,
) -> None:
    # Migration 013 gives postings their article's lengths: an index built before it (its
    # postings' lengths empty, search_layout without 13, as a lake gains the columns and the
    # table) is indexed again by the first load, then searched as before.
    _load_many(
        settings,
        [
            ("https://a.example/1", "Harbour closes", "The harbour closes for repairs on Monday."),
            ("https://b.example/2", "Ferry storm", "A storm stops the ferry to the harbour."),
        ],
    )
    con = connect_writer(settings.db, 10)
    try:
        query = "SELECT article_id, score FROM search_articles('harbour ferry') ORDER BY 1"
        before = con.execute(query).fetchall()
        assert len(before) == 2
        con.execute("UPDATE search_postings SET title_len = NULL, text_len = NULL")
        con.execute("DELETE FROM search_layout")
    finally:
        con.close()
    _load_many(settings, [("https://c.example/3", "Budget", "The council votes on the budget.")])
    con = connect_writer(settings.db, 10)
    try:
        assert con.execute("SELECT version FROM search_layout").fetchall() == [(13,)]
        assert con.execute(
            "SELECT count(*) FROM search_postings WHERE title_len IS NULL OR text_len IS NULL"
        ).fetchone() == (0,)
        lengths = "SELECT DISTINCT p.doc_id, p.title_len, p.text_len FROM search_postings p"
        assert sorted(con.execute(lengths).fetchall()) == sorted(
            con.execute("SELECT doc_id, title_len, text_len FROM search_docs").fetchall()
        )
        assert con.execute("SELECT num_docs FROM search_stats").fetchone() == (3,)
        # the same articles found (scores move: a third article changes the totals)
        after = con.execute(query).fetchall()
        assert [a for a, _ in after] == [a for a, _ in before]
        assert all(score > 0 for _, score in after)
        assert con.execute("SELECT count(*) FROM search_articles('budget')").fetchone() == (1,)
    finally:
        con.close()

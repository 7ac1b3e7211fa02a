"""Search at warehouse scale: the impact-ordered index (migration 012) against the term-blocked
index of migration 010 it replaced, on the same bulk-built articles, in one run.

    nice python benchmarks/bench_search.py --sizes 100000 [--loads 10] [--json out.json]

For each size two warehouse files are built from the same articles: ``new-N.duckdb`` with the
project's migrations and its index built through the loader's own ``index_articles`` (one
segment per 10,000 articles from the workers' grouped postings), then the real ``compact``
merge; ``b010-N.duckdb`` with the tables and ``search_articles`` macro of migration 010
(``search_010.sql``) and its blocks written directly in the segments its compaction leaves.
Article bodies are ~1,900-word texts spliced from the ``shared/eval`` ground truth
(``bench_storage.blocks``: 4,000 distinct bodies, each article one of them with its own id,
URL, domain and time over the last year); their postings are the workers' own
(``batch_postings``, English). The articles table holds every column but a one-line text
(search reads no text, so the bulk build skips writing 12 KB per article).

Printed per size: index size on disk, build and compaction time, p50/p95 of each query kind
through ``search_articles`` on both (the same queries; both return the same articles, which
the run checks), the share of the query terms' postings the new index read, and the
incremental cost of indexing 1,000 new real articles per load with today's code, on the empty
index and on the full one. Timings on a shared 2-core machine: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from benchmarks.bench_storage import BLOCKS, DAYS, DOMAINS, blocks, pct  # noqa: E402
from newsflow.tasks.postings import batch_postings  # noqa: E402
from newsflow.warehouse import fts, search_index  # noqa: E402
from newsflow.warehouse.db import connect_writer  # noqa: E402

NEW = 1000
CHUNK = 10_000  # articles per bulk-built segment (ten loads' worth)
REPEAT = 15  # queries per kind

# The tables and macro of migration 010 (the baseline).
SQL_010 = Path(__file__).with_name("search_010.sql")
BLOCK_010 = 1024  # migration 010's rows of at most 1,024 articles


def body_postings(body: pa.Table) -> pa.Table:
    """The workers' postings of each body, English, one row per (body ``b``, term)."""
    ids = [f"{b:06d}" for b in body["b"].to_pylist()]  # ranks by id = body numbers
    articles = pa.table(
        {
            "article_id": ids,
            "title": body["title"],
            "text": body["text"],
            "language": ["en"] * body.num_rows,
        }
    )
    grouped = batch_postings(articles)
    con = duckdb.connect()
    con.register("g", grouped)
    out = con.execute(
        "SELECT stemmer, term, words, unnest(docs)::BIGINT AS b, unnest(title_tfs) AS title_tf, "
        "unnest(text_tfs) AS text_tf, unnest(positions) AS positions FROM g"
    ).arrow()
    con.close()
    return out.read_all() if isinstance(out, pa.RecordBatchReader) else out


_IDS = """CREATE OR REPLACE TEMP TABLE ids AS
SELECT i, substr(md5(i::VARCHAR), 1, 16) AS article_id, (hash(i) % {blocks})::INTEGER AS b,
    'site' || (i % {domains}) || '.example' AS domain,
    TIMESTAMPTZ '{now}' - to_microseconds(({size} - i) * {step}::BIGINT) AS published_at
FROM range({size}) r(i)"""


def build_articles(con: duckdb.DuckDBPyConnection, size: int, body: pa.Table) -> None:
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    step = int(DAYS * 86400 / max(size, 1) * 1e6)
    con.execute(_IDS.format(blocks=BLOCKS, domains=DOMAINS, now=now, size=size, step=step))
    con.register("body_arrow", body.select(["b", "title"]))
    con.execute(
        """INSERT INTO articles (article_id, url, canonical_url, domain, title, published_at,
          language, text, word_count, content_hash, origin, ingested_at, cluster_id)
        SELECT ids.article_id, 'https://www.' || domain || '/news/' || i,
          'https://' || domain || '/news/' || i, domain, t.title, published_at, 'en',
          'Report ' || i, 1900, md5(i::VARCHAR), 'feed', published_at + INTERVAL 1 HOUR,
          ids.article_id
        FROM ids JOIN body_arrow t USING (b) ORDER BY i"""
    )
    con.unregister("body_arrow")


def _segment_plan(size: int) -> list[tuple[int, int]]:
    """The article ranges of the segments that ``CHUNK``-article segments leave after
    ``search_index.compact`` (groups of FANOUT of a size class merged, smallest first)."""
    segments = [(start, min(start + CHUNK, size), CHUNK // NEW) for start in range(0, size, CHUNK)]
    fanout = search_index.FANOUT
    while True:
        classes: dict[int, list[tuple[int, int, int]]] = {}
        for seg in segments:
            size_class = 0
            while fanout ** (size_class + 1) <= seg[2]:
                size_class += 1
            classes.setdefault(size_class, []).append(seg)
        due = [c for c in sorted(classes) if len(classes[c]) >= fanout]
        if not due:
            return [(lo, hi) for lo, hi, _ in sorted(segments)]
        picked = classes[due[0]][:fanout]
        rest = [seg for seg in segments if seg not in picked]
        # merged segments hold the articles of its members (ranges are adjacent here)
        merged = (min(x[0] for x in picked), max(x[1] for x in picked), sum(x[2] for x in picked))
        segments = [*rest, merged]


def build_012(path: Path, size: int, body: pa.Table, postings: pa.Table) -> dict[str, Any]:
    """Today's index, through the loader's ``index_articles``: one segment per CHUNK articles
    from the workers' grouped postings, then ``compact``."""
    con = connect_writer(path, 10)
    fts.load(con)
    build_articles(con, size, body)
    con.execute("CHECKPOINT")
    base = path.stat().st_size
    started = time.perf_counter()
    con.execute("INSERT INTO search_stats VALUES (1, 0, 0, 0, 1, 1, 1)")  # as the first load
    con.execute("INSERT INTO search_layout VALUES (?)", [search_index.LAYOUT])
    con.register("bp", postings)
    con.execute(
        "CREATE TEMP TABLE term_words AS SELECT stemmer, term, "
        "list_sort(list_distinct(flatten(list(words)))) AS words FROM bp GROUP BY ALL"
    )
    con.execute(
        "CREATE TEMP TABLE bp_t AS SELECT b, stemmer, term, title_tf, text_tf, positions FROM bp"
    )
    for start in range(0, size, CHUNK):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE chunk_ids AS SELECT article_id, b, "
            "CAST(row_number() OVER (ORDER BY article_id) - 1 AS INTEGER) AS k "
            f"FROM ids WHERE i >= {start} AND i < {start + CHUNK}"
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE chunk_postings AS "
            "SELECT stemmer, term, w.words, list_transform(l, x -> x.k) AS docs, "
            "list_transform(l, x -> x.a) AS title_tfs, list_transform(l, x -> x.t) AS text_tfs, "
            "list_transform(l, x -> x.p) AS positions FROM ("
            "  SELECT p.stemmer, p.term, list({'k': c.k, 'a': p.title_tf, 't': p.text_tf, "
            "  'p': p.positions}) AS l FROM chunk_ids c JOIN bp_t p USING (b) GROUP BY ALL) "
            "JOIN term_words w USING (stemmer, term)"
        )
        search_index.index_articles(
            con,
            "SELECT article_id, title, text, content_hash, language, domain, published_at, "
            f"duplicate_of FROM articles WHERE rowid >= {start} AND rowid < {start + CHUNK}",
            may_be_indexed=False,
            postings="chunk_postings",
            numbered="chunk_ids",
            merge=False,
        )
        # as loads: CHUNK // NEW loads per bulk segment
        con.execute(
            "UPDATE search_segments SET loads = ? WHERE segment = "
            "(SELECT max(segment) FROM search_segments)",
            [CHUNK // NEW],
        )
    con.execute("CHECKPOINT")
    built = time.perf_counter() - started
    started = time.perf_counter()
    merges = search_index.compact(con)
    con.execute("CHECKPOINT")
    compacted = time.perf_counter() - started
    out = {
        "build_s": round(built, 1),
        "compact_s": round(compacted, 1),
        "compact_merges": merges,
        "segments": con.execute("SELECT count(*) FROM search_segments").fetchone()[0],  # type: ignore[index]
        "blocks": con.execute("SELECT count(*) FROM search_blocks").fetchone()[0],  # type: ignore[index]
        "postings": con.execute("SELECT count(*) FROM search_postings").fetchone()[0],  # type: ignore[index]
        "terms": con.execute("SELECT count(*) FROM search_terms").fetchone()[0],  # type: ignore[index]
    }
    con.close()
    out["index_bytes"] = path.stat().st_size - base
    return out


def bulk_index(
    con: duckdb.DuckDBPyConnection, size: int, postings: pa.Table
) -> tuple[float, float]:
    """Today's index of the ``size`` articles of ``ids`` (their bodies' ``postings``), in the
    segments that loads and ``compact`` leave (``_segment_plan``), each written by the index's
    own ``write_segment`` in term ranges (a segment's rows are in term order, so ranges written
    one after another are too). Returns the seconds spent on the terms and documents, then on
    the postings."""
    started = time.perf_counter()
    con.register("bp", postings)
    con.execute(
        "INSERT INTO search_terms SELECT row_number() OVER (ORDER BY stemmer, term), stemmer, "
        "term FROM (SELECT DISTINCT stemmer, term FROM bp)"
    )
    con.execute(
        "INSERT INTO search_lexicon SELECT DISTINCT unnest(p.words) AS word, t.term_id "
        "FROM bp p JOIN search_terms t USING (stemmer, term) ORDER BY word"
    )
    con.execute(
        "CREATE TEMP TABLE bp_ids AS SELECT p.b, t.term_id, p.title_tf, p.text_tf, p.positions "
        "FROM bp p JOIN search_terms t USING (stemmer, term)"
    )
    con.execute(
        "CREATE TEMP TABLE lens AS SELECT b, sum(title_tf)::INTEGER AS title_len, "
        "sum(text_tf)::INTEGER AS text_len FROM bp_ids GROUP BY b"
    )
    con.execute(
        "INSERT INTO search_docs SELECT i + 1, article_id, md5(i::VARCHAR), 'en', domain, "
        "published_at, NULL, title_len, text_len FROM ids JOIN lens USING (b) ORDER BY i"
    )
    plan = _segment_plan(size)
    con.execute(
        "INSERT INTO search_stats SELECT 1, count(*), coalesce(sum(title_len), 0), "
        "coalesce(sum(text_len), 0), count(*) + 1, "
        "(SELECT coalesce(max(term_id), 0) + 1 FROM search_terms), ? FROM search_docs",
        [len(plan) + 1],
    )
    search_index.mark_layout(con)  # today's layout: loads add to it
    docs_terms = time.perf_counter() - started
    terms = con.execute("SELECT coalesce(max(term_id), 0) FROM search_terms").fetchone()[0]  # type: ignore[index]
    for segment, (lo, hi) in enumerate(plan, start=1):
        ranges = max(1, (hi - lo) // 40_000)
        step = terms // ranges + 1
        for first in range(0, terms + 1, step):
            search_index.write_segment(
                con,
                segment,
                "(SELECT p.term_id, CAST(i + 1 AS INTEGER) AS doc_id, p.title_tf, p.text_tf, "
                "p.positions, l.title_len, l.text_len "
                f"FROM (SELECT * FROM ids WHERE i >= {lo} AND i < {hi}) JOIN bp_ids p USING (b) "
                f"JOIN lens l USING (b) WHERE p.term_id >= {first} AND p.term_id < {first + step})",
                ordered=False,
            )
        con.execute(
            "INSERT INTO search_segments SELECT ?, ?, ?, ?, (SELECT count(*) FROM search_blocks "
            "WHERE segment = ?), now()",
            [segment, (hi - lo) // NEW, lo + 1, hi - lo, segment],
        )
    con.unregister("bp")
    return docs_terms, time.perf_counter() - started - docs_terms


def build_012_bulk(path: Path, size: int, body: pa.Table, postings: pa.Table) -> dict[str, Any]:
    """Today's index bulk-built in the segments that loads and ``compact`` leave
    (``_segment_plan``), each written by the index's own ``write_segment`` in term ranges (a
    segment's rows are in term order, so ranges written one after another are too): the
    layout of ``build_012`` without a million articles' worth of merges."""
    con = connect_writer(path, 10)
    build_articles(con, size, body)
    con.execute("CHECKPOINT")
    base = path.stat().st_size
    started = time.perf_counter()
    bulk_index(con, size, postings)
    con.execute("CHECKPOINT")
    built = time.perf_counter() - started
    out = {
        "build_s": round(built, 1),
        "segments": len(_segment_plan(size)),
        "blocks": con.execute("SELECT count(*) FROM search_blocks").fetchone()[0],  # type: ignore[index]
        "postings": con.execute("SELECT count(*) FROM search_postings").fetchone()[0],  # type: ignore[index]
    }
    con.close()
    out["index_bytes"] = path.stat().st_size - base
    return out


def build_010(path: Path, size: int, body: pa.Table, postings: pa.Table) -> dict[str, Any]:
    """Migration 010's index and macro, its blocks written directly in the segments its
    compaction leaves (``_segment_plan``)."""
    con = connect_writer(path, 10)
    for table in (
        "search_docs",
        "search_postings",
        "search_blocks",
        "search_removed",
        "search_segments",
        "search_stats",
    ):
        con.execute(f"DROP TABLE {table}")
    con.execute(SQL_010.read_text(encoding="utf-8"))
    build_articles(con, size, body)
    con.execute("CHECKPOINT")
    base = path.stat().st_size
    started = time.perf_counter()
    con.register("bp", postings)
    con.execute(f"CREATE TEMP TABLE bp_t AS SELECT * FROM bp WHERE {size} > 0")
    con.execute(
        "INSERT INTO search_terms SELECT row_number() OVER (ORDER BY stemmer, term), stemmer, "
        "term FROM (SELECT DISTINCT stemmer, term FROM bp_t)"
    )
    con.execute(
        "INSERT INTO search_lexicon SELECT DISTINCT unnest(p.words) AS word, t.term_id "
        "FROM bp_t p JOIN search_terms t USING (stemmer, term) ORDER BY word"
    )
    con.execute(
        "CREATE TEMP TABLE bp_ids AS SELECT p.b, t.term_id, p.title_tf, p.text_tf, p.positions "
        "FROM bp_t p JOIN search_terms t USING (stemmer, term)"
    )
    con.execute(
        "CREATE TEMP TABLE lens AS SELECT b, sum(title_tf)::INTEGER AS title_len, "
        "sum(text_tf)::INTEGER AS text_len FROM bp_ids GROUP BY b"
    )
    con.execute(
        "INSERT INTO search_docs SELECT i + 1, article_id, md5(i::VARCHAR), 'en', domain, "
        "published_at, title_len, text_len FROM ids JOIN lens USING (b) ORDER BY i"
    )
    plan = _segment_plan(size)
    terms = con.execute("SELECT coalesce(max(term_id), 0) FROM search_terms").fetchone()[0]  # type: ignore[index]
    for segment, (lo, hi) in enumerate(plan, start=1):
        # In term ranges (a segment's rows in term order), one list of structs per term (the
        # order of articles in a row means nothing), cut in rows of BLOCK_010.
        ranges = max(1, (hi - lo) // 5_000)  # lists of structs: memory-bound
        step = terms // ranges + 1
        for first in range(0, terms + 1, step):
            con.execute(
                "INSERT INTO search_blocks SELECT ?, term_id, "
                "list_transform(c, x -> x.d), list_transform(c, x -> x.a), "
                "list_transform(c, x -> x.x), list_transform(c, x -> x.p) FROM ("
                "  SELECT term_id, s, list_slice(l, s + 1, s + ?) AS c FROM ("
                "    SELECT term_id, list({'d': CAST(i + 1 AS INTEGER), 'a': title_tf, "
                "    'x': text_tf, 'p': positions}) AS l "
                f"    FROM (SELECT * FROM ids WHERE i >= {lo} AND i < {hi}) "
                f"    JOIN bp_ids USING (b) WHERE term_id >= {first} AND term_id < {first + step} "
                "    GROUP BY term_id), unnest(range(0, len(l), ?)) AS r(s)) "
                "ORDER BY term_id, s",
                [segment, BLOCK_010, BLOCK_010],
            )
        con.execute(
            "INSERT INTO search_segments SELECT ?, ?, ?, ?, (SELECT count(*) FROM search_blocks "
            "WHERE segment = ?), now()",
            [segment, (hi - lo) // NEW, lo + 1, hi - lo, segment],
        )
    con.execute(
        "INSERT INTO search_stats SELECT 1, count(*), coalesce(sum(title_len), 0), "
        "coalesce(sum(text_len), 0), "
        "count(*) + 1, (SELECT coalesce(max(term_id), 0) + 1 FROM search_terms), ? "
        "FROM search_docs",
        [len(plan) + 1],
    )
    con.execute("CHECKPOINT")
    built = time.perf_counter() - started
    out = {
        "build_s": round(built, 1),
        "segments": len(plan),
        "blocks": con.execute("SELECT count(*) FROM search_blocks").fetchone()[0],  # type: ignore[index]
    }
    con.close()
    out["index_bytes"] = path.stat().st_size - base
    return out


# ---------------------------------------------------------------- queries


def pick_queries(body: pa.Table, rng: random.Random) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Queries from the corpus: words in 3-30% of the bodies, real adjacent-word phrases."""
    texts = body["text"].to_pylist()
    sample = texts[:400]
    df: dict[str, int] = {}
    for text in sample:
        for word in set(re.findall(r"[a-z]{5,}", text.lower())):
            df[word] = df.get(word, 0) + 1
    terms = sorted(w for w, n in df.items() if 0.03 * len(sample) <= n <= 0.3 * len(sample))
    rare = sorted(w for w, n in df.items() if n == 1)
    phrases: list[str] = []
    while len(phrases) < REPEAT:
        words = re.findall(r"[a-z]+", rng.choice(texts).lower())
        if len(words) > 10:
            i = rng.randrange(len(words) - 3)
            if all(len(w) > 3 for w in words[i : i + 2]):
                phrases.append('"' + " ".join(words[i : i + rng.choice((2, 3))]) + '"')
    now = datetime.now(UTC).date()
    month = {"since": now.replace(day=1).isoformat(), "until": now.isoformat()}

    def many(make: Callable[[], str], **params: Any) -> list[tuple[str, dict[str, Any]]]:
        return [(make(), dict(params)) for _ in range(REPEAT)]

    return {
        "1 common term": many(lambda: rng.choice(terms)),
        "1 rare term": many(lambda: rng.choice(rare)),
        "2-3 terms": many(lambda: " ".join(rng.sample(terms, rng.choice((2, 3))))),
        "a AND b": many(lambda: " AND ".join(rng.sample(terms, 2))),
        "a OR b": many(lambda: " OR ".join(rng.sample(terms, 2))),
        "phrase": [(p, {}) for p in phrases],
        "a AND b -c": many(lambda: "{} AND {} -{}".format(*rng.sample(terms, 3))),
        "2 terms, domain": many(
            lambda: " ".join(rng.sample(terms, 2)), domain=f"site{rng.randrange(DOMAINS)}.example"
        ),
        "2 terms, this month": many(lambda: " ".join(rng.sample(terms, 2)), **month),
        "2 terms, language": many(lambda: " ".join(rng.sample(terms, 2)), language="en"),
    }


def run_query(
    con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any]
) -> list[tuple[str, float]]:
    named = "".join(f", {k} := ?" for k in params)
    rows = con.execute(
        f"SELECT article_id, score FROM search_articles(?{named})", [query, *params.values()]
    )
    return [(str(r[0]), float(r[1])) for r in rows.fetchall()]


def same_results(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> bool:
    """The same scores in the same order (to rounding) and the same articles for each score,
    but the last: articles of equal score (copies of a body) may be cut at max_results
    differently, and the 010 macro orders them by the last bits of their sums."""
    if len(a) != len(b) or any(
        abs(x[1] - y[1]) > 1e-9 * max(1.0, abs(x[1])) for x, y in zip(a, b, strict=True)
    ):
        return False
    groups: dict[int, tuple[set[str], set[str]]] = {}
    for (x, score), (y, _) in zip(a, b, strict=True):
        key = round(score * 1e8)
        groups.setdefault(key, (set(), set()))
        groups[key][0].add(x)
        groups[key][1].add(y)
    last = round(a[-1][1] * 1e8) if a else None
    return all(mine == theirs for key, (mine, theirs) in groups.items() if key != last)


def time_queries(
    new: duckdb.DuckDBPyConnection,
    old: duckdb.DuckDBPyConnection | None,
    queries: dict[str, list[tuple[str, dict[str, Any]]]],
    label: str = "b010",
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, items in queries.items():
        spent: dict[str, list[float]] = {"new": [], "old": []}
        hits = 0
        differ = 0
        for n, (query, params) in enumerate(items):
            found: dict[str, list[tuple[str, float]]] = {}
            for name, con in (("new", new), ("old", old)):
                if con is None:
                    continue
                started = time.perf_counter()
                found[name] = run_query(con, query, params)
                if n:  # the first of each kind warms the caches
                    spent[name].append(time.perf_counter() - started)
            hits += len(found["new"])
            if old is not None:
                differ += not same_results(found["new"], found["old"])
        new_p50 = statistics.median(spent["new"]) * 1000
        out[kind] = {
            "new_p50_ms": round(new_p50, 1),
            "new_p95_ms": round(pct(spent["new"], 0.95) * 1000, 1),
            "hits_per_query": round(hits / len(items), 1),
        }
        if old is not None:
            old_p50 = statistics.median(spent["old"]) * 1000
            out[kind] |= {
                f"{label}_p50_ms": round(old_p50, 1),
                f"{label}_p95_ms": round(pct(spent["old"], 0.95) * 1000, 1),
                f"{label}_over_new": round(old_p50 / new_p50, 1),
                "queries_with_other_results": differ,
            }
        print(f"  {kind:22} {out[kind]}", flush=True)
    return out


# ---------------------------------------------------------------- incremental loads


def load_batches(count: int) -> list[tuple[pa.Table, pa.Table]]:
    """``count`` batches of 1,000 new real articles (new ids, the same real bodies as loads
    deliver them) with the postings their workers spool."""
    body = blocks(NEW, seed=97)
    out = []
    for k in range(count):
        ids = [f"load{k:03d}-{i:05d}" for i in range(NEW)]
        articles = pa.table(
            {
                "article_id": ids,
                "title": body["title"],
                "text": [f"Update {k}: {t}" for t in body["text"].to_pylist()],
                "content_hash": [f"h{k}-{i}" for i in range(NEW)],
                "language": ["en"] * NEW,
                "domain": [f"fresh{i % 300}.example" for i in range(NEW)],
                "published_at": pa.array([datetime.now(UTC)] * NEW, pa.timestamp("us", "UTC")),
            }
        )
        out.append((articles, batch_postings(articles)))
    return out


def new_loads(path: Path, batches: list[tuple[pa.Table, pa.Table]]) -> list[float]:
    con = connect_writer(path, 10)
    fts.load(con)
    spent = []
    for articles, postings in batches:
        con.register("fresh_batch", articles)
        con.register("new_postings", postings)
        con.execute("BEGIN")
        # The batch's article rows, as the loader inserts them first (not timed: the index's
        # work is); search shows only indexed articles that are in articles.
        con.execute(
            "INSERT INTO articles (article_id, url, canonical_url, domain, title, published_at, "
            "language, text, word_count, content_hash, origin, ingested_at, cluster_id) "
            "SELECT article_id, 'https://' || domain || '/' || article_id, "
            "'https://' || domain || '/' || article_id, domain, title, published_at, language, "
            "text, 1900, content_hash, 'feed', published_at, article_id FROM fresh_batch"
        )
        started = time.perf_counter()
        search_index.index_articles(
            con,
            "SELECT * FROM fresh_batch",
            may_be_indexed=False,
            postings="new_postings",
            numbered="fresh_batch",
        )
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        spent.append(time.perf_counter() - started)
        con.unregister("fresh_batch")
        con.unregister("new_postings")
    con.close()
    return spent


def summarize_loads(spent: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(spent), 2),
        "max_s": round(max(spent), 2),
        "total_s": round(sum(spent), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated article counts")
    parser.add_argument("--loads", type=int, default=10, help="1k-article loads to time")
    parser.add_argument("--work", type=Path, default=None, help="folder for the files (kept)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument(
        "--baseline-sizes", default=None, help="sizes at which to build migration 010's index"
    )
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="bulk-build the new index in its compacted segments (for 1M: no merges)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="query the files a former run left in --work"
    )
    parser.add_argument(
        "--only-query-terms",
        action="store_true",
        help="index only the terms of the timed queries (every article still indexed): a "
        "quick proxy of a full index for those queries, to compare layouts at 1M",
    )
    parser.add_argument(
        "--before",
        default=None,
        help="compare against this warehouse file pattern instead of 010's ({size} is "
        "replaced; e.g. W/old012-{size}.duckdb, an index built by an earlier version)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    baseline_sizes = (
        sizes if args.baseline_sizes is None else [int(s) for s in args.baseline_sizes.split(",")]
    )
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_search_"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    started = time.perf_counter()
    body = blocks(BLOCKS)
    cached = work / "body_postings.parquet"  # kept in a --work folder for the next run
    if cached.exists():
        postings = pq.read_table(cached)
    else:
        postings = body_postings(body)
        pq.write_table(postings, cached)
    print(
        f"bodies: {body.num_rows}, their postings {postings.num_rows} "
        f"({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    batches = load_batches(args.loads)
    queries = pick_queries(body, rng)
    if args.only_query_terms:
        words = sorted(
            {w for items in queries.values() for q, _ in items for w in re.findall(r"\w+", q)}
        )
        con = duckdb.connect()
        con.register("all_postings", postings)
        kept = con.execute(
            "SELECT * FROM all_postings WHERE list_has_any(words, ?)", [[w.lower() for w in words]]
        ).arrow()
        postings = kept.read_all() if isinstance(kept, pa.RecordBatchReader) else kept
        con.close()
        print(f"only the queries' terms: {postings.num_rows} postings of the bodies", flush=True)
    figures: dict[str, Any] = {}
    # Loads on the empty index: the baseline of the incremental cost.
    if args.loads:
        empty = work / "empty-new.duckdb"
        empty.unlink(missing_ok=True)
        build_012(empty, 0, body, postings)
        figures["loads_on_empty"] = summarize_loads(new_loads(empty, batches))
        print(f"loads of 1k on the empty index: {figures['loads_on_empty']}", flush=True)
    for size in sizes:
        print(f"--- {size} articles", flush=True)
        res: dict[str, Any] = {}
        builds = (
            (("new", build_012_bulk), ("b010", build_010))
            if args.bulk
            else (("new", build_012), ("b010", build_010))
        )
        for name, build in builds:
            if name == "b010" and size not in baseline_sizes:
                continue
            path = work / f"{name}-{size}.duckdb"
            if args.reuse and path.exists():
                if name == "new":  # today's views and macros (the writer applies them)
                    connect_writer(path, 10).close()
                print(f"  {name} index: reused {path}", flush=True)
                continue
            path.unlink(missing_ok=True)
            started = time.perf_counter()
            res[f"{name}_index"] = build(path, size, body, postings)
            res[f"{name}_index"]["wall_s"] = round(time.perf_counter() - started, 1)
            print(f"  {name} index: {res[f'{name}_index']}", flush=True)
        new = duckdb.connect(str(work / f"new-{size}.duckdb"), read_only=True)
        before = Path(args.before.format(size=size)) if args.before else None
        if before is not None and before.exists():
            old: duckdb.DuckDBPyConnection | None = duckdb.connect(str(before), read_only=True)
            label = "before"
        else:
            old = (
                duckdb.connect(str(work / f"b010-{size}.duckdb"), read_only=True)
                if size in baseline_sizes
                else None
            )
            label = "b010"
        res["queries"] = time_queries(new, old, queries, label)
        new.close()
        if old is not None:
            old.close()
        if args.loads:
            res["loads"] = summarize_loads(new_loads(work / f"new-{size}.duckdb", batches))
            res["loads"]["x_empty"] = round(
                res["loads"]["median_s"] / figures["loads_on_empty"]["median_s"], 2
            )
            print(f"  loads of 1k: {res['loads']}", flush=True)
        figures[str(size)] = res
        if args.work is None:
            for f in work.glob(f"*-{size}.duckdb*"):
                f.unlink()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()

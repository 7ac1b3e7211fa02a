"""Search at warehouse scale: the term-blocked index (migration 010) against the postings table
it replaced, on the same bulk-built articles, in one run.

    nice python benchmarks/bench_search.py --sizes 100000 [--loads 10] [--json out.json]

For each size two warehouse files are built from the same articles: ``new.duckdb`` with the
project's migrations and its index bulk-built the way loads build it (one segment per 10,000
articles, then the real ``compact`` merge), and ``old.duckdb`` with the index of migrations
004/005 (one posting row per word and article, in load order) and its ``search_articles``
macro. Article bodies are ~1,900-word texts spliced from the ``shared/eval`` ground truth
(``bench_storage.blocks``: 4,000 distinct bodies, each article one of them with its own id,
URL, domain and time over the last year); their postings are the workers' own
(``batch_postings``, English). The articles table holds every column but a one-line text
(search reads no text, so the bulk build skips writing 12 KB per article).

Printed per size: index size on disk, build and compaction time, p50/p95 of each query kind
through ``search_articles`` on both (the old macro gets the same words as a bag of words: it
has no phrases, AND or NOT, so its figure is a lower bound of what it would cost), and the
incremental cost of indexing 1,000 new real articles per load, on the empty index and on the
full one. Timings on a shared 2-core machine: compare ratios within one run.
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

# The index of migrations 004/005 and its macro, as they were before migration 010.
OLD_SCHEMA = """
CREATE TABLE search_docs (article_id VARCHAR NOT NULL, version INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL, title_len INTEGER NOT NULL, text_len INTEGER NOT NULL);
CREATE TABLE search_postings (term VARCHAR NOT NULL, article_id VARCHAR NOT NULL,
    version INTEGER NOT NULL, title_tf INTEGER NOT NULL, text_tf INTEGER NOT NULL);
CREATE TABLE search_terms (term VARCHAR NOT NULL, df INTEGER NOT NULL);
CREATE TABLE search_stats (id INTEGER PRIMARY KEY, num_docs BIGINT NOT NULL,
    title_len BIGINT NOT NULL, text_len BIGINT NOT NULL);
"""
OLD_MACRO = """
CREATE OR REPLACE MACRO search_articles(
    query, since := NULL, until := NULL, domain := NULL, language := NULL,
    include_duplicates := false, max_results := 20, title_weight := 2
) AS TABLE
WITH
    q AS (
        SELECT DISTINCT stem(w, 'porter') AS term
        FROM (SELECT unnest(search_tokenize(query)) AS w)
        WHERE length(w) > 0 AND w NOT IN (SELECT word FROM search_stopwords)
    ),
    totals AS (
        SELECT num_docs, (title_weight * title_len + text_len) / num_docs AS avgdl
        FROM search_stats WHERE num_docs > 0
    ),
    matches AS (
        SELECT p.article_id,
            title_weight * p.title_tf + p.text_tf AS tf,
            title_weight * d.title_len + d.text_len AS len,
            t.df
        FROM search_postings p
        JOIN q ON q.term = p.term
        JOIN search_terms t ON t.term = p.term
        JOIN search_docs d ON d.article_id = p.article_id AND d.version = p.version
    ),
    scores AS (
        SELECT m.article_id,
            sum(log10((s.num_docs - m.df + 0.5) / (m.df + 0.5) + 1)
                * m.tf * (1.2 + 1) / (m.tf + 1.2 * (1 - 0.75 + 0.75 * m.len / s.avgdl)))
                AS score
        FROM matches m, totals s
        GROUP BY m.article_id
    )
SELECT a.article_id, sc.score, a.title, a.domain, a.published_at, a.language, a.url,
    a.duplicate_of, a.word_count
FROM scores sc
JOIN articles a ON a.article_id = sc.article_id
WHERE (since IS NULL OR CAST(timezone('UTC', a.published_at) AS DATE) >= CAST(since AS DATE))
  AND (until IS NULL OR CAST(timezone('UTC', a.published_at) AS DATE) <= CAST(until AS DATE))
  AND (domain IS NULL OR a.domain = domain OR ends_with(a.domain, '.' || domain))
  AND (language IS NULL OR a.language = language)
  AND (include_duplicates OR a.duplicate_of IS NULL)
ORDER BY sc.score DESC, a.published_at DESC NULLS LAST, a.article_id
LIMIT max_results;
"""


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


def build_new(path: Path, size: int, body: pa.Table, postings: pa.Table) -> dict[str, Any]:
    con = connect_writer(path, 10)
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
    segments = 0
    for start in range(0, size, CHUNK):
        segments += 1
        block = search_index.BLOCK  # rows of at most BLOCK articles, as merges write them
        con.execute(
            "INSERT INTO search_blocks SELECT ?, term_id, list_slice(d, s + 1, s + ?), "
            "list_slice(a, s + 1, s + ?), list_slice(x, s + 1, s + ?), list_slice(p, s + 1, s + ?) "
            "FROM (SELECT *, unnest(range(0, len(d), ?)) AS s FROM ("
            "  SELECT term_id, list(i + 1 ORDER BY i) AS d, list(title_tf ORDER BY i) AS a, "
            "  list(text_tf ORDER BY i) AS x, list(positions ORDER BY i) AS p "
            f"  FROM (SELECT * FROM ids WHERE i >= {start} AND i < {start + CHUNK}) "
            "  JOIN bp_ids USING (b) GROUP BY term_id)) ORDER BY term_id, s",
            [segments, block, block, block, block, block],
        )
        con.execute(
            "INSERT INTO search_segments SELECT ?, ?, ?, ?, (SELECT count(*) FROM search_blocks "
            "WHERE segment = ?), now()",
            [segments, CHUNK // NEW, start + 1, min(CHUNK, size - start), segments],
        )
    con.execute(
        "INSERT INTO search_stats SELECT 1, count(*), coalesce(sum(title_len), 0), "
        "coalesce(sum(text_len), 0), "
        "count(*) + 1, (SELECT coalesce(max(term_id), 0) + 1 FROM search_terms), ? "
        "FROM search_docs",
        [segments + 1],
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
        "lexicon": con.execute("SELECT count(*) FROM search_lexicon").fetchone()[0],  # type: ignore[index]
        "terms": con.execute("SELECT count(*) FROM search_terms").fetchone()[0],  # type: ignore[index]
    }
    con.close()
    out["index_bytes"] = path.stat().st_size - base
    return out


def build_old(path: Path, size: int, body: pa.Table, postings: pa.Table) -> dict[str, Any]:
    con = connect_writer(path, 10)
    for table in ("search_blocks", "search_docs", "search_terms", "search_stats"):
        con.execute(f"DROP TABLE {table}")
    con.execute(OLD_SCHEMA)
    fts.load(con)
    con.execute(OLD_MACRO)
    build_articles(con, size, body)
    con.execute("CHECKPOINT")
    base = path.stat().st_size
    started = time.perf_counter()
    con.register("bp", postings.select(["b", "term", "title_tf", "text_tf"]))
    con.execute(
        "CREATE TEMP TABLE lens AS SELECT b, sum(title_tf)::INTEGER AS title_len, "
        "sum(text_tf)::INTEGER AS text_len FROM bp GROUP BY b"
    )
    con.execute(
        "INSERT INTO search_docs SELECT article_id, 1, md5(i::VARCHAR), title_len, text_len "
        "FROM ids JOIN lens USING (b) ORDER BY i"
    )
    for start in range(0, size, CHUNK):  # in load order, as the loader appends them
        con.execute(
            "INSERT INTO search_postings SELECT term, article_id, 1, title_tf, text_tf "
            f"FROM (SELECT * FROM ids WHERE i >= {start} AND i < {start + CHUNK}) "
            "JOIN bp USING (b) ORDER BY i"
        )
    con.execute(
        "INSERT INTO search_terms SELECT term, count(*) FROM ids JOIN bp USING (b) GROUP BY term"
    )
    con.execute(
        "INSERT INTO search_stats SELECT 1, count(*), coalesce(sum(title_len), 0), "
        "coalesce(sum(text_len), 0) FROM search_docs"
    )
    con.execute("CHECKPOINT")
    built = time.perf_counter() - started
    postings_rows = con.execute("SELECT count(*) FROM search_postings").fetchone()[0]  # type: ignore[index]
    con.close()
    return {
        "build_s": round(built, 1),
        "postings": postings_rows,
        "index_bytes": path.stat().st_size - base,
    }


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


def bag_of_words(query: str) -> str:
    return " ".join(w for w in re.findall(r"[^\s\"]+", query) if w not in ("AND", "OR", "NOT"))


def run_query(con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any]) -> int:
    named = "".join(f", {k} := ?" for k in params)
    rows = con.execute(f"SELECT * FROM search_articles(?{named})", [query, *params.values()])
    return len(rows.fetchall())


def time_queries(
    new: duckdb.DuckDBPyConnection,
    old: duckdb.DuckDBPyConnection,
    queries: dict[str, list[tuple[str, dict[str, Any]]]],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, items in queries.items():
        spent: dict[str, list[float]] = {"new": [], "old": []}
        hits = 0
        for n, (query, params) in enumerate(items):
            for name, con, q in (("new", new, query), ("old", old, bag_of_words(query))):
                started = time.perf_counter()
                found = run_query(con, q, params)
                if n:  # the first of each kind warms the caches
                    spent[name].append(time.perf_counter() - started)
                hits += found if name == "new" else 0
        new_p50 = statistics.median(spent["new"]) * 1000
        old_p50 = statistics.median(spent["old"]) * 1000
        out[kind] = {
            "new_p50_ms": round(new_p50, 1),
            "new_p95_ms": round(pct(spent["new"], 0.95) * 1000, 1),
            "old_p50_ms": round(old_p50, 1),
            "old_p95_ms": round(pct(spent["old"], 0.95) * 1000, 1),
            "old_over_new": round(old_p50 / new_p50, 1),
            "new_hits_per_query": round(hits / len(items), 1),
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
        started = time.perf_counter()
        con.execute("BEGIN")
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


def old_loads(path: Path, batches: list[tuple[pa.Table, pa.Table]]) -> list[float]:
    """The old index's work for a batch of new articles (search_index.py before 010)."""
    con = connect_writer(path, 10)
    spent = []
    for articles, postings in batches:
        con.register("fresh_batch", articles)
        con.register("grouped", postings)
        # The same postings, one row per word and article, as the old loader got them.
        ungrouped = con.execute(
            "SELECT term, ids[k + 1] AS article_id, title_tf, text_tf FROM ("
            "  SELECT term, unnest(docs) AS k, unnest(title_tfs) AS title_tf, "
            "  unnest(text_tfs) AS text_tf FROM grouped), "
            "(SELECT list(article_id ORDER BY article_id) AS ids FROM fresh_batch)"
        ).to_arrow_table()
        con.register("new_postings", ungrouped)
        started = time.perf_counter()
        con.execute("BEGIN")
        con.execute("CREATE OR REPLACE TEMP TABLE search_new AS SELECT * FROM new_postings")
        con.execute(
            "INSERT INTO search_docs SELECT b.article_id, 1, b.content_hash, "
            "CAST(coalesce(sum(n.title_tf), 0) AS INTEGER), CAST(coalesce(sum(n.text_tf), 0) "
            "AS INTEGER) FROM fresh_batch b LEFT JOIN search_new n USING (article_id) "
            "GROUP BY b.article_id, b.content_hash"
        )
        con.execute(
            "INSERT INTO search_postings SELECT term, article_id, 1, title_tf, text_tf "
            "FROM search_new"
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE search_delta AS SELECT term, count(*)::INTEGER AS df "
            "FROM search_new GROUP BY term"
        )
        con.execute(
            "UPDATE search_terms SET df = search_terms.df + d.df FROM search_delta d "
            "WHERE search_terms.term = d.term"
        )
        con.execute(
            "INSERT INTO search_terms SELECT d.term, d.df FROM search_delta d "
            "ANTI JOIN search_terms t ON t.term = d.term"
        )
        con.execute(
            "UPDATE search_stats SET num_docs = num_docs + 1000, "
            "text_len = text_len + (SELECT sum(text_tf) FROM search_new) WHERE id = 1"
        )
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        spent.append(time.perf_counter() - started)
        con.unregister("fresh_batch")
        con.unregister("new_postings")
        con.unregister("grouped")
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
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
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
    figures: dict[str, Any] = {"loads_on_empty": {}}
    # Loads on the empty index: the baseline of the incremental cost.
    for name, loads, build in (("new", new_loads, build_new), ("old", old_loads, build_old)):
        empty = work / f"empty-{name}.duckdb"
        empty.unlink(missing_ok=True)
        build(empty, 0, body, postings)
        figures["loads_on_empty"][name] = summarize_loads(loads(empty, batches))
    print(f"loads of 1k on the empty index: {figures['loads_on_empty']}", flush=True)
    for size in sizes:
        print(f"--- {size} articles", flush=True)
        res: dict[str, Any] = {}
        for name, build in (("new", build_new), ("old", build_old)):
            path = work / f"{name}-{size}.duckdb"
            path.unlink(missing_ok=True)
            res[f"{name}_index"] = build(path, size, body, postings)
            print(f"  {name} index: {res[f'{name}_index']}", flush=True)
        new = duckdb.connect(str(work / f"new-{size}.duckdb"), read_only=True)
        old = duckdb.connect(str(work / f"old-{size}.duckdb"), read_only=True)
        fts.load(old)  # the old macro stems the query; the new one needs nothing
        res["queries"] = time_queries(new, old, queries)
        new.close()
        old.close()
        res["loads"] = {
            "new": summarize_loads(new_loads(work / f"new-{size}.duckdb", batches)),
            "old": summarize_loads(old_loads(work / f"old-{size}.duckdb", batches)),
        }
        for name in ("new", "old"):
            res["loads"][name]["x_empty"] = round(
                res["loads"][name]["median_s"] / figures["loads_on_empty"][name]["median_s"], 2
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

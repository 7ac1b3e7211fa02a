"""Benchmark: does ingesting new articles cost more when the warehouse is big?

    python benchmarks/bench_warehouse_scale.py [--sizes 0,10000,100000,1000000]
        [--new 1000] [--trials 3]        (or --rows N: just an empty one and one of N)

Builds warehouses of 10k, 100k and 1M synthetic articles with bulk SQL (articles, sightings,
the MinHash band keys every article has, which the loader's near-duplicate join reads, and
the search index: what a real warehouse of that size holds), then, in the same run,
processes a batch of ``--new`` real article texts once and ingests that same batch into an
empty warehouse and into each big one (spool -> loader: exact-duplicate join, band-key join,
merge, search index), ``--trials`` times with fresh texts. Prints the medians, each as a
ratio to the empty warehouse, for the loader alone and for the whole ingest (processing
included).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from benchmarks.corpus_texts import texts  # noqa: E402
from newsflow.tasks.near_duplicates import BANDS  # noqa: E402
from newsflow.tasks.process import process_candidates  # noqa: E402
from newsflow.tasks.records import Candidate  # noqa: E402
from newsflow.tasks.spool import write_batch  # noqa: E402
from newsflow.warehouse import fts  # noqa: E402
from newsflow.warehouse.db import connect_writer  # noqa: E402
from newsflow.warehouse.loader import load_spool  # noqa: E402
from newsflow.warehouse.search_index import _POSTINGS  # noqa: E402

TARGET = 1.3
TEXT_TAIL = "repeat(' with some words of text', 40)"


def build(db: Path, rows: int) -> float:
    started = time.perf_counter()
    con = connect_writer(db, 10)
    aid = "substr(md5(i::VARCHAR), 1, 16)"
    url = "'https://site' || (i % 20000) || '.example/news/' || i"
    con.execute(
        "INSERT INTO articles (article_id, url, canonical_url, domain, title, published_at, "
        "language, language_confidence, text, word_count, content_hash, origin, ingested_at, "
        "access_status, reading_minutes, cluster_id) "
        f"SELECT {aid}, {url}, {url}, 'site' || (i % 20000) || '.example', 'Story ' || i, "
        "TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds(i * 60), 'en', 0.99, "
        f"'Synthetic article number ' || i || {TEXT_TAIL}, 203, "
        "md5('c' || i), 'feed', TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds(i * 60), "
        f"'full', 1, {aid} FROM range({rows}) t(i)"
    )
    con.execute(
        f"INSERT INTO article_sightings SELECT {aid}, 'feed', "
        "'https://site' || (i % 20000) || '.example/feed', 'guid-' || i, "
        f"{url}, TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds(i * 60) "
        f"FROM range({rows}) t(i)"
    )
    con.execute(
        "INSERT INTO article_bands SELECT (hash(i, b) & 9223372036854775807)::BIGINT, "
        f"{aid} FROM range({rows}) t(i), range({BANDS}) s(b)"
    )
    build_search_index(con, rows)
    con.execute("CHECKPOINT")
    con.close()
    return time.perf_counter() - started


def build_search_index(con: duckdb.DuckDBPyConnection, rows: int) -> None:
    """The search index of the synthetic articles, as the loader would have built it.

    Every synthetic article has the same words but its number, so the real tokenizer and
    stemmer (warehouse/search_index.py) index one template text, and SQL adds the number."""
    fts.load(con)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE template_src AS SELECT 'x' AS article_id, "
        f"'Story' AS title, 'Synthetic article number' || {TEXT_TAIL} AS text"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE template AS " + _POSTINGS.format(source="template_src")
    )
    lens = con.execute("SELECT sum(title_tf), sum(text_tf) FROM template").fetchone()
    assert lens is not None
    title_len, text_len = int(lens[0]) + 1, int(lens[1]) + 1  # + the article's number
    aid = "substr(md5(i::VARCHAR), 1, 16)"
    con.execute(
        f"INSERT INTO search_docs SELECT {aid}, 1, md5('c' || i), {title_len}, {text_len} "
        f"FROM range({rows}) r(i)"
    )
    con.execute(
        f"INSERT INTO search_postings SELECT t.term, {aid}, 1, t.title_tf, t.text_tf "
        f"FROM range({rows}) r(i), template t "
        f"UNION ALL SELECT i::VARCHAR, {aid}, 1, 1, 1 FROM range({rows}) r(i)"
    )
    con.execute(
        f"INSERT INTO search_terms SELECT term, {rows} FROM template "
        f"UNION ALL SELECT i::VARCHAR, 1 FROM range({rows}) r(i)"
    )
    con.execute(
        f"INSERT INTO search_stats VALUES (1, {rows}, {rows * title_len}, {rows * text_len})"
    )
    con.execute("DROP TABLE template_src")
    con.execute("DROP TABLE template")


def ingest(db: Path, spool: str, corpus: list[tuple[str, str]], tag: str) -> tuple[float, float]:
    """(whole ingest seconds, loader seconds)."""
    started = time.perf_counter()
    candidates = [
        Candidate("feed", "bench", url.replace("://", f"://{tag}."), title="t", text=text)
        for url, text in corpus
    ]
    batch = process_candidates(candidates, "bench", now=datetime.now(UTC))
    write_batch(batch, spool)
    loading = time.perf_counter()
    report = load_spool(db, spool, lock_wait=10)
    done = time.perf_counter()
    assert report.loaded == len({c.url for c in candidates}), report
    return done - started, done - loading


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sizes",
        default="0,10000,100000,1000000",
        help="existing articles of each warehouse, comma-separated (0: empty, the baseline)",
    )
    parser.add_argument("--rows", type=int, help="only an empty and one warehouse of ROWS")
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    sizes = [0, args.rows] if args.rows else [int(x) for x in args.sizes.split(",")]
    sizes = sorted(set([0, *sizes]))
    corpus = texts(args.new * args.trials)
    with tempfile.TemporaryDirectory() as tmp:
        dbs: dict[int, Path] = {}
        for size in sizes[1:]:
            dbs[size] = Path(tmp) / f"w{size}.duckdb"
            print(f"building a warehouse of {size:,} articles ...", flush=True)
            seconds = build(dbs[size], size)
            print(f"  built in {seconds:.0f}s ({size * BANDS:,} band keys)", flush=True)
        # Warm-up: the language model and the first connection are not part of a batch.
        ingest(Path(tmp) / "warm.duckdb", f"{tmp}/spool-warm", corpus[:20], "warm")
        runs: dict[int, list[tuple[float, float]]] = {size: [] for size in sizes}
        for trial in range(args.trials):
            chunk = corpus[trial * args.new : (trial + 1) * args.new]
            # The same processed batch goes into every warehouse: only the loader differs.
            started = time.perf_counter()
            batch = process_candidates(
                [
                    Candidate("feed", "bench", url.replace("://", f"://t{trial}."), "t", text=text)
                    for url, text in chunk
                ],
                "bench",
                now=datetime.now(UTC),
            )
            processing = time.perf_counter() - started
            dbs[0] = Path(tmp) / f"empty{trial}.duckdb"  # a fresh empty warehouse each trial
            connect_writer(dbs[0], 10).close()  # migrated beforehand, like the others
            # Rotate the order so no size gains from warm caches.
            order = sizes[trial % len(sizes) :] + sizes[: trial % len(sizes)]
            for size in order:
                spool = f"{tmp}/spool-{size}-{trial}"
                started = time.perf_counter()
                write_batch(batch, spool)
                loading = time.perf_counter()
                report = load_spool(dbs[size], spool, lock_wait=10)
                done = time.perf_counter()
                assert report.loaded == len(batch.articles), report
                runs[size].append((processing + done - started, done - loading))
                print(
                    f"trial {trial + 1} {size:>9,}: ingest {runs[size][-1][0]:.2f}s, "
                    f"loader {runs[size][-1][1]:.2f}s",
                    flush=True,
                )
    whole = {size: statistics.median(r[0] for r in got) for size, got in runs.items()}
    loader = {size: statistics.median(r[1] for r in got) for size, got in runs.items()}
    print(
        f"\n{args.new} new articles into warehouses of N existing articles, medians of "
        f"{args.trials} trials (loader = the dedup joins and merge, one transaction):"
    )
    print(f"  {'N':>9}  {'loader':>8}  {'/ empty':>7}  {'whole ingest':>12}  {'/ empty':>7}")
    for size in sizes:
        print(
            f"  {size:>9,}  {loader[size]:>7.2f}s  {loader[size] / loader[0]:>6.2f}x  "
            f"{whole[size]:>11.2f}s  {whole[size] / whole[0]:>6.2f}x"
        )
    print(
        f"  whole ingest at {sizes[-1]:,} / empty: {whole[sizes[-1]] / whole[0]:.2f}x "
        f"(target <= {TARGET}x)"
    )


if __name__ == "__main__":
    main()

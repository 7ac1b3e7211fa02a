"""Benchmark: does ingesting new articles cost more when the warehouse is big?

    python tests/benchmarks/bench_warehouse_scale.py [--rows 1000000] [--new 1000]

Builds a warehouse of ``--rows`` synthetic articles with SQL (articles, sightings and the
MinHash band keys every article has: what a real warehouse of that size holds), then, in
the same run, ingests the same kind of batch of ``--new`` real article texts into an empty
warehouse and into the big one (process -> spool -> loader), ``--trials`` times each with
fresh texts. Prints the medians and the ratio big / empty, for the loader alone and for the
whole ingest.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tasks.minhash import BANDS  # noqa: E402
from tasks.process import process_candidates  # noqa: E402
from tasks.records import Candidate  # noqa: E402
from tasks.spool import write_batch  # noqa: E402
from tests.benchmarks.corpus_texts import texts  # noqa: E402
from warehouse.db import connect_writer  # noqa: E402
from warehouse.loader import load_spool  # noqa: E402

TARGET = 1.3


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
        "'Synthetic article number ' || i || repeat(' with some words of text', 40), 203, "
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
    con.execute("CHECKPOINT")
    con.close()
    return time.perf_counter() - started


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
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    corpus = texts(args.new * args.trials)
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.duckdb"
        print(f"building a warehouse of {args.rows:,} articles ...", flush=True)
        seconds = build(big, args.rows)
        print(f"built in {seconds:.0f}s ({args.rows * BANDS:,} band keys)")
        # Warm-up: the language model and the first connection are not part of a batch.
        ingest(Path(tmp) / "warm.duckdb", f"{tmp}/spool-warm", corpus[:20], "warm")
        empty_runs, big_runs = [], []
        for trial in range(args.trials):
            chunk = corpus[trial * args.new : (trial + 1) * args.new]
            empty = Path(tmp) / f"empty{trial}.duckdb"
            connect_writer(empty, 10).close()  # migrated beforehand, like the big one
            # Alternate the order so neither side gains from warm caches.
            order = [("empty", empty), ("big", big)]
            if trial % 2:
                order.reverse()
            for name, db in order:
                got = ingest(db, f"{tmp}/spool-{name}{trial}", chunk, f"t{trial}")
                (empty_runs if name == "empty" else big_runs).append(got)
                print(f"trial {trial + 1} {name:>5}: ingest {got[0]:.2f}s, loader {got[1]:.2f}s")
    e_all = statistics.median(r[0] for r in empty_runs)
    b_all = statistics.median(r[0] for r in big_runs)
    e_load = statistics.median(r[1] for r in empty_runs)
    b_load = statistics.median(r[1] for r in big_runs)
    print(f"\n{args.new} new articles, medians of {args.trials} trials:")
    print(
        f"  whole ingest: empty {e_all:.2f}s, {args.rows:,} rows {b_all:.2f}s, ratio "
        f"{b_all / e_all:.2f}x (target <= {TARGET}x)"
    )
    print(
        f"  loader alone: empty {e_load:.2f}s, {args.rows:,} rows {b_load:.2f}s, ratio "
        f"{b_load / e_load:.2f}x"
    )


if __name__ == "__main__":
    main()

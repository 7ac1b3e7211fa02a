"""Benchmark: the loader's throughput, rows merged per second from spooled Parquet batches.

    python benchmarks/bench_loader.py [--batches 4] [--size 500] [--trials 2] [--lake]

Processes ``--batches`` x ``--size`` real article texts (benchmarks/corpus_texts.py: the
eval sets' ground truth, ~790 texts, then syndicated copies of it, near-duplicates the loader
verifies text against text) once and spools them. Then, ``--trials``
times each, on fresh copies of that spool and fresh migrated warehouses, in alternating order:

- the loader (``load_spool``): every batch in its own transaction, with exact and
  near-duplicate dedup, sightings, comments, band keys and the search index;
- the loader again with the search index step left out (``merge_search_index`` patched to do
  nothing), to show what dedup and merging cost apart from indexing;
- the baseline: bare DuckDB ``INSERT INTO ... SELECT FROM read_parquet(...)`` of the same
  files into the same tables (articles, their band keys, sightings, comments), one statement
  a table, no dedup and no index.

Prints rows/s of both (articles rows, and all rows written to those tables) and the ratio.
``--lake`` adds the loader on a DuckLake warehouse (``.ducklake``, warehouse/storage.py) and
its ratio to the loader on the file.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.corpus_texts import texts  # noqa: E402
from newsflow.tasks.process import process_candidates  # noqa: E402
from newsflow.tasks.records import Candidate  # noqa: E402
from newsflow.tasks.spool import write_batch  # noqa: E402
from newsflow.warehouse.db import connect_writer  # noqa: E402
from newsflow.warehouse.loader import load_spool  # noqa: E402

ARTICLE_COLUMNS = (
    "article_id, url, canonical_url, domain, title, published_at, language, "
    "language_confidence, text, word_count, content_hash, duplicate_of, origin, ingested_at, "
    "modified_at, published_source, modified_source, authors, site_name, description, image, "
    "tags, categories, canonical_link, access_status, reading_minutes, extractor"
)
TABLES = ("articles", "article_bands", "article_sightings", "article_comments")


def make_spool(spool: Path, batches: int, size: int) -> float:
    """Process and spool the corpus; returns the seconds that took (not part of any figure)."""
    started = time.perf_counter()
    corpus = texts(batches * size)
    now = datetime.now(UTC)
    for b in range(batches):
        chunk = corpus[b * size : (b + 1) * size]
        candidates = [
            Candidate("feed", "bench", url, title="A headline", text=text, feed_url="bench")
            for url, text in chunk
        ]
        write_batch(process_candidates(candidates, f"bench-{b}", now=now), str(spool))
    return time.perf_counter() - started


def counts(db: Path) -> dict[str, int]:
    con = connect_writer(db, 10)
    try:
        got = {}
        for name in TABLES:
            row = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            got[name] = int(row[0]) if row else 0
        return got
    finally:
        con.close()


DUPLICATES: list[int] = []  # duplicate_of set by the loader, per run


def run_loader(db: Path, spool: Path) -> float:
    connect_writer(db, 10).close()  # migrated beforehand, as any warehouse in use
    started = time.perf_counter()
    report = load_spool(db, str(spool), lock_wait=10)
    elapsed = time.perf_counter() - started
    assert report.batches > 0 and report.loaded > 0, report
    DUPLICATES.append(report.duplicates)
    return elapsed


def run_loader_no_index(db: Path, spool: Path) -> float:
    with mock.patch("newsflow.warehouse.loader.merge_search_index", lambda con, **_: None):
        return run_loader(db, spool)


def run_bare(db: Path, spool: Path) -> float:
    con = connect_writer(db, 10)  # migrated beforehand, as for the loader
    files = f"'{spool}/*/%s.parquet'"
    started = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    con.execute(
        f"INSERT INTO articles ({ARTICLE_COLUMNS}) SELECT {ARTICLE_COLUMNS} "
        f"FROM read_parquet({files % 'articles'})"
    )
    con.execute(
        "INSERT INTO article_bands SELECT unnest(bands), article_id "
        f"FROM read_parquet({files % 'articles'})"
    )
    con.execute(
        "INSERT INTO article_sightings SELECT article_id, origin, feed_url, guid, url_seen, "
        f"seen_at FROM read_parquet({files % 'sightings'})"
    )
    if list(spool.glob("*/comments.parquet")):
        con.execute(
            "INSERT INTO article_comments SELECT article_id, position, text "
            f"FROM read_parquet({files % 'comments'})"
        )
    con.execute("COMMIT")
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--lake", action="store_true", help="also the loader on a DuckLake")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source = tmp / "spool"
        seconds = make_spool(source, args.batches, args.size)
        print(f"spooled {args.batches} batches x {args.size} articles in {seconds:.0f}s")
        runs: dict[str, list[float]] = {"loader": [], "no_index": [], "bare": []}
        variants = {"loader": run_loader, "no_index": run_loader_no_index, "bare": run_bare}
        if args.lake:
            runs["lake"] = []
            variants["lake"] = run_loader
        written: dict[str, dict[str, int]] = {}
        for trial in range(args.trials):
            order = list(variants) if trial % 2 == 0 else list(reversed(variants))
            for name in order:
                spool = tmp / f"spool-{name}{trial}"
                shutil.copytree(source, spool)
                db = tmp / f"{name}{trial}.{'ducklake' if name == 'lake' else 'duckdb'}"
                runs[name].append(variants[name](db, spool))
                written[name] = counts(db)
                print(f"trial {trial + 1} {name:>8}: {runs[name][-1]:.2f}s", flush=True)
    print(
        f"\n{args.batches} spooled batches ({max(DUPLICATES)} of the articles found to be exact "
        f"or near-duplicates), medians of {args.trials} trials:"
    )
    rates = {}
    for name, label in (
        ("loader", "loader (load_spool: dedup, merge, search index)"),
        ("no_index", "loader without the search index step"),
        ("bare", "bare INSERT ... SELECT FROM read_parquet"),
        *([("lake", "loader on a DuckLake (.ducklake)")] if args.lake else []),
    ):
        secs = statistics.median(runs[name])
        rows = sum(written[name].values())
        rates[name] = (written[name]["articles"] / secs, rows / secs)
        detail = ", ".join(f"{t} {n:,}" for t, n in written[name].items())
        print(
            f"  {label}: {secs:.2f}s, {rates[name][0]:,.0f} article rows/s, "
            f"{rates[name][1]:,.0f} rows/s ({detail})"
        )
    print(
        f"  ratio loader / bare insert: {rates['loader'][0] / rates['bare'][0]:.3f}x "
        "(article rows/s)"
    )
    print(
        "  ratio loader without search index / bare insert: "
        f"{rates['no_index'][0] / rates['bare'][0]:.3f}x"
    )
    if args.lake:
        print(
            "  ratio loader on a DuckLake / loader on the file: "
            f"{rates['lake'][0] / rates['loader'][0]:.3f}x (article rows/s)"
        )


if __name__ == "__main__":
    main()

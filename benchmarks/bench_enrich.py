"""Benchmark: dedup + enrichment throughput (articles/s) on real article texts.

    python benchmarks/bench_enrich.py [--n 2000]

Times ``process_candidates`` on candidates that already have their text (what follows
extraction): normalization, ids, date rule, language (fastText), authors, reading time,
MinHash LSH bands and in-batch exact dedup, in one process. Prints articles/s and the ratio
to the 500 articles/s target, and the MinHash share of the time.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.corpus_texts import texts  # noqa: E402
from newsflow.tasks.near_duplicates import band_keys  # noqa: E402
from newsflow.tasks.process import process_candidates  # noqa: E402
from newsflow.tasks.records import Candidate, DateClaim  # noqa: E402

TARGET = 500.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    corpus = texts(args.n)
    date = DateClaim("published", datetime(2025, 1, 2, tzinfo=UTC), "feed")
    candidates = [
        Candidate(
            "feed",
            "bench",
            url,
            title="A headline",
            text=text,
            dates=[date],
            authors=["By Jane Doe and John Smith"],
            tags=["news"],
        )
        for url, text in corpus
    ]
    process_candidates(candidates[:20], "warm-up")  # loads the language model once
    started = time.process_time()
    batch = process_candidates(candidates, "bench")
    elapsed = time.process_time() - started
    started = time.process_time()
    for _, text in corpus:
        band_keys(text)
    minhash = time.process_time() - started
    rate = len(candidates) / elapsed
    words = sum(a.word_count for a in batch.articles) / max(len(batch.articles), 1)
    print(f"articles: {len(candidates)} (mean {words:.0f} words), rows: {len(batch.articles)}")
    print(f"dedup + enrichment: {elapsed:.2f}s = {rate:.0f} articles/s CPU time, one core")
    print(f"  of which MinHash bands: {minhash:.2f}s ({minhash / len(corpus) * 1000:.2f} ms/doc)")
    print(f"ratio to the {TARGET:.0f} articles/s target: {rate / TARGET:.2f}x")


if __name__ == "__main__":
    main()

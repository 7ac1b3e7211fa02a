"""What search and the published copy cost, by warehouse size: loading 1,000 new articles
(with and without the incremental search index step, and against the empty warehouse),
publishing the read-only copy, one search on it, and optionally what rebuilding DuckDB's own
fts index over everything would take instead.

    PYTHONPATH=. python benchmarks/bench_publish.py [--sizes 0 10000 50000]
        [--text-words 250] [--extension-rebuild]

Prints figures and ratios measured in one run; it asserts nothing (no timed tests).
Articles are synthetic rows (random words from a 5,000-word vocabulary) written through the
real spool and merged by the real loader; language detection is skipped to keep set-up short.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from newsflow.tasks.normalize import article_id, canonical_url, content_hash, word_count
from newsflow.tasks.records import ArticleRow, Batch, SightingRow
from newsflow.tasks.spool import write_batch
from newsflow.warehouse import fts, loader
from newsflow.warehouse.loader import load_spool
from newsflow.warehouse.publish import open_published, publish


def _vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(size)]


def _rows(start: int, count: int, words: list[str], text_words: int, seed: int) -> Batch:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    batch = Batch(run_id=f"bench-{seed}")
    for n in range(start, start + count):
        url = f"https://site{n % 50}.example.com/story/{n}"
        canonical = canonical_url(url)
        text = " ".join(rng.choices(words, k=text_words))
        aid = article_id(canonical)
        batch.articles.append(
            ArticleRow(
                article_id=aid,
                url=url,
                canonical_url=canonical,
                domain=f"site{n % 50}.example.com",
                title=" ".join(rng.choices(words, k=8)),
                published_at=now,
                language="en",
                language_confidence=0.99,
                text=text,
                word_count=word_count(text),
                content_hash=content_hash(text),
                origin="feed",
                ingested_at=now,
            )
        )
        batch.sightings.append(SightingRow(aid, "feed", None, None, url, now))
    return batch


def _fill(db: Path, spool: str, size: int, words: list[str], text_words: int) -> None:
    step = 10_000
    for start in range(0, size, step):
        write_batch(_rows(start, min(step, size - start), words, text_words, start), spool)
        load_spool(db, spool, lock_wait=60)


def _timed_load(db: Path, spool: str, start: int, words: list[str], text_words: int) -> float:
    write_batch(_rows(start, 1000, words, text_words, start), spool)
    began = time.perf_counter()
    load_spool(db, spool, lock_wait=60)
    return time.perf_counter() - began


def _without_index(db: Path, spool: str, start: int, words: list[str], text_words: int) -> float:
    """The same load with the search index step switched off, for its share of the time."""
    original = loader.merge_search_index
    loader.merge_search_index = lambda con, **_: 0  # type: ignore[assignment]
    try:
        return _timed_load(db, spool, start, words, text_words)
    finally:
        loader.merge_search_index = original


def _extension_rebuild(db: Path) -> float:
    """What rebuilding DuckDB's own fts index over the whole warehouse takes (not used)."""
    con = duckdb.connect(str(db))
    try:
        fts.load(con)
        began = time.perf_counter()
        con.execute(
            "PRAGMA create_fts_index('articles', 'article_id', 'title', 'text', "
            "stopwords = 'search_stopwords', overwrite = 1)"
        )
        elapsed = time.perf_counter() - began
        con.execute("DROP SCHEMA fts_main_articles CASCADE")
        return elapsed
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 10_000, 50_000])
    parser.add_argument("--text-words", type=int, default=250)
    parser.add_argument(
        "--extension-rebuild", action="store_true", help="Also time a full fts index rebuild."
    )
    args = parser.parse_args()
    words = _vocabulary(random.Random(1))
    header = (
        f"{'articles':>9} {'db MB':>7} {'load 1k s':>9} {'no-index s':>10} {'index %':>7} "
        f"{'vs empty':>8} {'publish s':>9} {'search ms':>9}"
    )
    if args.extension_rebuild:
        header += f" {'fts rebuild s':>13}"
    print(header)
    baseline = None
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            root = Path(tmp) / str(size)
            root.mkdir()
            db, spool = root / "news.duckdb", str(root / "spool")
            _fill(db, spool, size, words, args.text_words)
            # The machine is shared: the best of three, alternating, for each figure.
            loads, bares = [], []
            for attempt in range(3):
                start = 10_000_000 + 10_000 * attempt
                loads.append(_timed_load(db, spool, start, words, args.text_words))
                bares.append(_without_index(db, spool, start + 5000, words, args.text_words))
            load, bare = min(loads), min(bares)
            baseline = baseline or load
            began = time.perf_counter()
            info = publish(db, lock_wait=60)
            publish_seconds = time.perf_counter() - began
            con = open_published(info.path)
            query = " ".join(words[10:13])
            began = time.perf_counter()
            for _ in range(5):
                fts.search(con, query, limit=20)
            search_ms = (time.perf_counter() - began) / 5 * 1000
            con.close()
            megabytes = db.stat().st_size / 1e6
            line = (
                f"{size:>9} {megabytes:>7.0f} {load:>9.2f} {bare:>10.2f} "
                f"{100 * (load - bare) / load:>6.0f}% {load / baseline:>7.2f}x "
                f"{publish_seconds:>9.2f} {search_ms:>9.0f}"
            )
            if args.extension_rebuild:
                line += f" {_extension_rebuild(db):>13.1f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()

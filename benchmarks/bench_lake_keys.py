"""Benchmark: the loader's lookups by key on a lake, by SQL (a scan) and by the key index.

    python benchmarks/bench_lake_keys.py [--articles 100000 1000000] [--size 1000]

For each size, grows a lake (the project's schema, ``connect_writer``) with synthetic key
rows as a warehouse of that many articles holds them: ``articles`` (ids, content hashes,
short texts, a year of days), 36 ``article_bands`` rows and 60 ``text_units`` rows an
article (random 63-bit keys, as LSH band keys and sentence hashes are). Then, with real
batches of ``--size`` articles (benchmarks/corpus_texts.py, spooled once):

- the lookup phase of one batch, three times each: the SQL the loader runs on the single
  file (``known``, the content-hash roots, the band-key candidates with their
  representatives, the ``text_units`` counts) against the key index's probes, inside a lake
  transaction;
- whole loads (``load_spool``, ``--loads`` batches): the same batches into two lakes grown
  alike, one loading with the lookups by SQL (before), the other with the key index (after,
  built from the lake first: one pass, once per machine; each load then includes its
  catch-up with the load before it), interleaved so both share the machine's noise;
- what the loads still read from the lake by key (the ``text_units`` MERGE, the
  representatives' texts by id).

Prints milliseconds per phase and seconds per load, and the ratios, per size.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_loader import make_spool  # noqa: E402
from newsflow.tasks import boilerplate as bp  # noqa: E402
from newsflow.tasks import spool as spool_mod  # noqa: E402
from newsflow.warehouse import keys as keymod  # noqa: E402
from newsflow.warehouse import loader, storage, stories  # noqa: E402
from newsflow.warehouse.db import connect_writer  # noqa: E402
from newsflow.warehouse.loader import load_spool  # noqa: E402
from newsflow.warehouse.merges import queries  # noqa: E402

_FOR_LAKE = keymod.for_lake  # the loader's, which "before" switches off


def grow(db: Path, n: int) -> float:
    """Synthetic key rows of ``n`` articles; the seconds it took."""
    started = time.perf_counter()
    con = connect_writer(db, 10)
    try:
        aid = "substr(md5(i::VARCHAR), 1, 16)"
        con.execute(
            "INSERT INTO articles (article_id, url, canonical_url, text, word_count, "
            "content_hash, origin, ingested_at, published_at, cluster_id) "
            f"SELECT {aid}, 'https://x.example/' || i, 'https://x.example/' || i, 'text', 1, "
            f"md5('c' || i), 'bench', TIMESTAMPTZ '2025-01-01' + INTERVAL (i // 1000) MINUTE, "
            f"TIMESTAMPTZ '2025-01-01' + INTERVAL (i % 365) DAY, {aid} FROM range({n}) t(i)"
        )
        con.execute(
            f"INSERT INTO article_bands SELECT (hash(i * 36 + b) >> 1)::BIGINT, {aid} "
            f"FROM range({n}) t(i), range(36) s(b) ORDER BY 1"
        )
        con.execute(
            "INSERT INTO text_units SELECT (hash('u' || (i * 60 + b)) >> 1)::BIGINT, "
            f"'site' || (i % 2000) || '.example', 1, {aid}, TIMESTAMPTZ '2025-01-01' "
            f"FROM range({n}) t(i), range(60) s(b)"
        )
    finally:
        con.close()
    return time.perf_counter() - started


def batch_keys(batch: Path) -> tuple[list[str], list[str], list[tuple[str, int]], list[int]]:
    """A spooled batch's article ids, content hashes, (id, band key) pairs, sentence hashes."""
    table = pq.read_table(next(batch.glob("articles*.parquet")))
    rows = table.select(["article_id", "content_hash", "bands", "text"]).to_pylist()
    pairs = [(r["article_id"], k) for r in rows for k in dict.fromkeys(r["bands"] or [])]
    units = sorted({h for r in rows for h, _, _ in bp.units(r["text"])})
    return [r["article_id"] for r in rows], [r["content_hash"] for r in rows], pairs, units


def lookups(db: Path, batch: Path, *, indexed: bool) -> list[float]:
    """Milliseconds of the lookup phase for ``batch``'s keys, three trials."""
    ids, hashes, pairs, units = batch_keys(batch)
    sql = queries("articles")
    con = connect_writer(db, 10)
    index = _FOR_LAKE(con)
    out = []
    try:
        con.register("batch_articles", pa.table({"article_id": ids, "content_hash": hashes}))
        con.register(
            "nd_keys",
            pa.table(
                {
                    "article_id": [p[0] for p in pairs],
                    "band_key": pa.array([p[1] for p in pairs], pa.int64()),
                }
            ),
        )
        for _ in range(3):
            con.execute("BEGIN")
            started = time.perf_counter()
            if indexed:
                assert index.catch_up(con)
                index.known(ids)
                index.roots(hashes)
                stories._past(con, index, [p[1] for p in pairs])
                index.units(units)
            else:
                con.execute(sql["known"])
                con.execute(sql["roots"])
                stories._past(con, None, [])
                stories.Counts._read(con, units)
            out.append((time.perf_counter() - started) * 1000)
            con.execute("ROLLBACK")
            index.release()
    finally:
        index.close()
        con.close()
    return out


def load(db: Path, source: Path, batch: str, work: Path) -> float:
    spool = work / f"spool-{batch}"
    shutil.copytree(source / batch, spool / batch)
    started = time.perf_counter()
    report = load_spool(db, str(spool), lock_wait=10)
    assert report.batches == 1 and report.loaded > 0, report
    return time.perf_counter() - started


def timed(record: list[float], work: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return work(*args)
        finally:
            record.append(time.perf_counter() - started)

    return wrapper


@contextmanager
def still_growing(record: dict[str, list[float]]) -> Iterator[None]:
    """Time the load's other statements by key that still read the lake: the ``text_units``
    MERGE and the representatives' texts by id."""
    saved = stories.Counts.save, stories.Representatives.get
    for name, cls, attr in (
        ("text_units MERGE", stories.Counts, "save"),
        ("texts by id", stories.Representatives, "get"),
    ):
        setattr(cls, attr, timed(record.setdefault(name, []), getattr(cls, attr)))
    try:
        yield
    finally:
        stories.Counts.save, stories.Representatives.get = saved  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--size", type=int, default=1000, help="articles per batch")
    parser.add_argument("--spool", type=Path, help="keep the spooled batches here, for reruns")
    parser.add_argument("--loads", type=int, default=2, help="batches loaded into each lake")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        work = Path(tmp_name)
        source = args.spool or work / "spool"
        if not spool_mod.pending(str(source)):
            seconds = make_spool(source, 5, args.size)
            print(f"spooled 5 batches x {args.size} articles in {seconds:.0f}s")
        batches = spool_mod.pending(str(source))
        for n in args.articles:
            run_size(n, source, batches, work / f"n{n}", loads=args.loads)


def build_index(db: Path) -> float:
    """Build ``db``'s key index from the lake (as a first load on a machine does)."""
    con = connect_writer(db, 10)
    index = _FOR_LAKE(con)
    started = time.perf_counter()
    try:
        con.execute("BEGIN")
        assert index.catch_up(con)
        con.execute("ROLLBACK")
    finally:
        index.close()
        con.close()
    return time.perf_counter() - started


def run_size(n: int, source: Path, batches: list[str], work: Path, *, loads: int) -> None:
    """Two identical lakes of ``n`` articles' keys: ``sql`` loads with the lookups by SQL
    (before), ``index`` with the key index (after), the same batches, interleaved."""
    dbs = {"sql": work / "sql" / "news.ducklake", "index": work / "index" / "news.ducklake"}
    if not loads:  # the lookup phase only: one lake
        del dbs["sql"]
    grown = [grow(db, n) for db in dbs.values()]
    print(f"\n== {n:,} articles: grown in {min(grown):.0f}s", flush=True)
    built = build_index(dbs["index"])
    size = storage.keys_path(storage.locate(dbs["index"]).catalog).stat().st_size
    print(f"key index built from the lake in {built:.1f}s, {size / 2**20:.0f} MB", flush=True)
    sql_ms = lookups(dbs["index"], source / batches[0], indexed=False)
    index_ms = lookups(dbs["index"], source / batches[0], indexed=True)
    print(
        "lookup phase of one batch, ms (3 trials): SQL "
        + " ".join(f"{t:.0f}" for t in sql_ms)
        + " | index "
        + " ".join(f"{t:.0f}" for t in index_ms)
        + f" | SQL/index {min(sql_ms) / min(index_ms):.1f}x",
        flush=True,
    )
    if not loads:
        shutil.rmtree(work)
        return
    times: dict[str, list[float]] = {"sql": [], "index": []}
    rest: dict[str, dict[str, list[float]]] = {"sql": {}, "index": {}}
    catch: list[float] = []
    real_catch_up = keymod.KeyIndex.catch_up
    for batch in batches[:loads]:
        for name, db in dbs.items():
            if name == "sql":
                loader.key_index.for_lake = lambda con: None  # type: ignore[assignment,return-value]
            else:
                keymod.KeyIndex.catch_up = timed(catch, real_catch_up)  # type: ignore[method-assign]
            try:
                with still_growing(rest[name]):
                    times[name].append(load(db, source, batch, work / name))
            finally:
                loader.key_index.for_lake = _FOR_LAKE
                keymod.KeyIndex.catch_up = real_catch_up  # type: ignore[method-assign]
    print(
        "whole load of one batch, s: SQL "
        + " ".join(f"{t:.2f}" for t in times["sql"])
        + " | index "
        + " ".join(f"{t:.2f}" for t in times["index"])
        + f" | SQL/index (sums) {sum(times['sql']) / sum(times['index']):.2f}x"
        + " | catch-up in the index loads, ms "
        + " ".join(f"{t * 1000:.0f}" for t in catch)
    )
    for name, parts in rest.items():
        print(
            f"  still read from the lake, {name} loads, ms per load: "
            + "; ".join(
                f"{part} " + " ".join(f"{t * 1000:.0f}" for t in ts) for part, ts in parts.items()
            )
        )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()

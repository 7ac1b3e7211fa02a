"""Benchmark: how a load's time grows with the loads before it, on the file and on a lake.

    python benchmarks/bench_loader_growth.py [--loads 8] [--size 1000]

Processes ``--loads`` + 1 batches of ``--size`` real article texts (benchmarks/corpus_texts.py;
beyond the ~790 distinct texts, syndicated copies the near-duplicate check verifies) once and
spools them. Then loads them one batch after another with the loader (``load_spool``), into a
single-file warehouse and into a DuckLake (``.ducklake``), timing each load (wall and CPU
seconds of this process, DuckDB's threads included). The last batch is loaded into the lake
after ``lake_maintenance.maintain`` (files merged, snapshots kept), to show what many small
files cost.

Prints each load's seconds on both layouts, the last load over the first (growth), the lake's
data files before and after maintenance, and the lake over the file per load.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_loader import make_spool  # noqa: E402
from newsflow.tasks import spool as spool_mod  # noqa: E402
from newsflow.warehouse import lake_maintenance  # noqa: E402
from newsflow.warehouse.db import connect_writer  # noqa: E402
from newsflow.warehouse.loader import load_spool  # noqa: E402


def files_of(db: Path) -> int:
    """Data files of the lake's tables (the articles' and the lookups' tables)."""
    con = connect_writer(db, 10)
    try:
        total = 0
        for table in ("articles", "article_bands", "text_units", "search_blocks"):
            row = con.execute(f"SELECT count(*) FROM ducklake_list_files('news', '{table}')")
            total += int((row.fetchone() or [0])[0])
        return total
    finally:
        con.close()


def load_one(db: Path, source: Path, batch: str, work: Path) -> tuple[float, float]:
    spool = work / f"spool-{db.suffix[1:]}-{batch}"
    shutil.copytree(source / batch, spool / batch)
    wall, cpu = time.perf_counter(), time.process_time()
    report = load_spool(db, str(spool), lock_wait=10)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert report.batches == 1 and report.loaded > 0, report
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=8, help="batches loaded one after another")
    parser.add_argument("--size", type=int, default=1000, help="articles per batch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        work = Path(tmp_name)
        source = work / "spool"
        seconds = make_spool(source, args.loads + 1, args.size)
        batches = spool_mod.pending(str(source))
        print(f"spooled {len(batches)} batches x {args.size} articles in {seconds:.0f}s")
        dbs = {"file": work / "news.duckdb", "lake": work / "news.ducklake"}
        for db in dbs.values():
            connect_writer(db, 10).close()  # migrated beforehand, as any warehouse in use
        times: dict[str, list[tuple[float, float]]] = {"file": [], "lake": []}
        for i, batch in enumerate(batches):
            if i == args.loads:
                before = files_of(dbs["lake"])
                con = connect_writer(dbs["lake"], 10)
                started = time.perf_counter()
                lake_maintenance.maintain(con)
                con.close()
                print(
                    f"lake maintenance: {time.perf_counter() - started:.1f}s, data files "
                    f"{before} -> {files_of(dbs['lake'])}"
                )
            order = ("file", "lake") if i % 2 == 0 else ("lake", "file")
            for name in order:
                times[name].append(load_one(dbs[name], source, batch, work))
            (fw, fc), (lw, lc) = times["file"][-1], times["lake"][-1]
            after = " (lake maintained)" if i == args.loads else ""
            print(
                f"load {i + 1:>3} of {args.size}: file {fw:6.2f}s (cpu {fc:6.2f}s)  "
                f"lake {lw:6.2f}s (cpu {lc:6.2f}s)  lake/file {lw / fw:.2f}x{after}",
                flush=True,
            )
    print(f"\nwarehouse grew to {(args.loads + 1) * args.size:,} articles in {len(batches)} loads")
    for name in ("file", "lake"):
        first, last = times[name][0], times[name][args.loads - 1]
        print(
            f"  {name}: first load {first[0]:.2f}s, load {args.loads} {last[0]:.2f}s "
            f"({last[0] / first[0]:.2f}x wall, {last[1] / first[1]:.2f}x cpu)"
        )
    after, before = times["lake"][args.loads], times["lake"][args.loads - 1]
    print(f"  lake after maintenance: {after[0]:.2f}s (cpu {after[1]:.2f}s)")


if __name__ == "__main__":
    main()

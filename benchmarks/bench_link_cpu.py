"""Benchmark: CPU seconds of a load of new articles, and what the near-duplicate check decided.

    python benchmarks/bench_link_cpu.py [--loads 3] [--size 1000] [--root DIR] [--profile]

Spools ``--loads`` batches of ``--size`` real article texts (benchmarks/corpus_texts.py:
beyond the ~790 distinct texts, syndicated copies the near-duplicate check verifies) and
loads them one after another into a single-file warehouse with ``load_spool``, printing each
load's wall and CPU seconds (this process, DuckDB's threads included) and a digest of every
article's ``duplicate_of`` (by URL), so two versions of the code can be compared in one
command: ``--root`` imports the project from another checkout.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--profile", action="store_true", help="print the last load's profile")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    from benchmarks.bench_loader import make_spool
    from newsflow.tasks import spool as spool_mod
    from newsflow.warehouse.db import connect_reader, connect_writer
    from newsflow.warehouse.loader import load_spool

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_spool(work / "all", args.loads, args.size)
        batches = spool_mod.pending(str(work / "all"))
        db = work / "news.duckdb"
        connect_writer(db, 10).close()  # migrated beforehand, as any warehouse in use
        cpu = []
        for i, batch in enumerate(batches):
            one = work / f"spool{i}"
            shutil.copytree(work / "all" / batch, one / batch)
            profile = cProfile.Profile() if args.profile and i == len(batches) - 1 else None
            wall, started = time.perf_counter(), time.process_time()
            if profile:
                profile.enable()
            load_spool(db, str(one), lock_wait=30)
            if profile:
                profile.disable()
            cpu.append(time.process_time() - started)
            print(f"load {i + 1}: wall {time.perf_counter() - wall:.1f} s, CPU {cpu[-1]:.1f} s")
            if profile:
                pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        con = connect_reader(db)
        try:
            rows = con.execute(
                "SELECT a.url, r.url FROM articles a LEFT JOIN articles r "
                "ON r.article_id = a.duplicate_of ORDER BY 1"
            ).fetchall()
        finally:
            con.close()
        digest = hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
        linked = sum(1 for _, r in rows if r is not None)
        print(f"code {args.root}: {len(rows)} articles, {linked} duplicates, digest {digest}")
        print(f"CPU per load after the first: {sum(cpu[1:]) / max(1, len(cpu) - 1):.1f} s")


if __name__ == "__main__":
    main()

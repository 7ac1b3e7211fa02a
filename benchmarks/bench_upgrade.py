"""Benchmark: ``newsflow upgrade`` and ``newsflow maintain`` at size (figures, never pass/fail).

    python benchmarks/bench_upgrade.py [--sizes 10000,50000] [--commits 50] [--work DIR]

For each size it bulk-builds today's single-file warehouse of realistic articles (~1,900 words
each, spliced from ``../shared/eval``; ``bench_storage.build_source``/``build_single``: the
project's migrations, articles, sightings, band keys and its search index), then in the same
run:

- copies it into a new lake with ``lake_upgrade.migrate_from_file`` (what ``newsflow upgrade``
  runs):
  seconds, articles a second, the old file's size against the lake's data files;
- makes ``--commits`` small loads of 20 articles each (as a loader polling often leaves a lake)
  and times ``lake_maintenance.maintain_report`` (what ``newsflow maintain`` and the maintenance
  deployment run): files merged, files before and after, seconds.
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

from benchmarks import bench_storage as storage  # noqa: E402
from newsflow.warehouse import lake as lakemod  # noqa: E402
from newsflow.warehouse import lake_maintenance, lake_upgrade  # noqa: E402


def small_loads(con: object, commits: int) -> None:
    """``commits`` loads of 20 new articles, copied from existing rows with new ids."""
    for k in range(commits):
        con.execute(  # type: ignore[attr-defined]
            "INSERT INTO articles SELECT * REPLACE ('new-' || ? || '-' || article_id AS "
            "article_id, url || '?n=' || ? AS url, canonical_url || '?n=' || ? AS canonical_url,"
            " now() AS published_at) FROM articles WHERE article_id NOT LIKE 'new-%' LIMIT 20",
            [k, k, k],
        )


def run(size: int, commits: int, work: Path) -> dict[str, float]:
    src = work / f"src-{size}"
    db = work / f"single-{size}.duckdb"
    if not db.exists():
        started = time.perf_counter()
        storage.build_source(src, size, storage.blocks(min(size, storage.BLOCKS) or 1))
        storage.build_single(db, src, size)
        print(f"  built {size:,} articles in {time.perf_counter() - started:.0f} s", flush=True)
    target = work / f"lake-{size}.ducklake"
    lake = lakemod.Lake.from_target(target)
    target.unlink(missing_ok=True)
    shutil.rmtree(lake.data_path, ignore_errors=True)
    con = lakemod.connect(lake)
    started = time.perf_counter()
    done = lake_upgrade.migrate_from_file(con, db)
    copy_s = time.perf_counter() - started
    lake_bytes = storage.du(Path(lake.data_path)) + storage.du(target)
    small_loads(con, commits)
    started = time.perf_counter()
    report = lake_maintenance.maintain_report(con, keep_days=0)
    maintain_s = time.perf_counter() - started
    con.close()
    return {
        "articles": done.rows.get("articles", 0),
        "copy_s": copy_s,
        "articles_per_s": done.rows.get("articles", 0) / copy_s if copy_s else 0.0,
        "old_bytes": storage.du(db),
        "lake_bytes": lake_bytes,
        "maintain_s": maintain_s,
        "files_merged": report.files_merged,
        "files_written": report.files_written,
        "files_before": report.before.files,
        "files_after": report.after.files,
        "files_deleted": report.files_deleted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--commits", type=int, default=50)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-upgrade-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder {work}")
    for size in (int(s) for s in args.sizes.split(",")):
        r = run(size, args.commits, work)
        print(
            f"{size:>9,} articles: upgrade {r['copy_s']:.1f} s ({r['articles_per_s']:,.0f} "
            f"articles/s); old file {storage.gb(r['old_bytes'])}, lake "
            f"{storage.gb(r['lake_bytes'])} ({r['lake_bytes'] / r['old_bytes']:.2f}x); "
            f"maintain after {args.commits} small loads {r['maintain_s']:.1f} s: "
            f"{r['files_merged']:.0f} files merged into {r['files_written']:.0f}, data files "
            f"{r['files_before']:.0f} -> {r['files_after']:.0f}, "
            f"{r['files_deleted']:.0f} deleted",
            flush=True,
        )
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

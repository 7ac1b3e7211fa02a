"""Benchmark: the representatives' texts read from a lake by id alone and by their day.

    python benchmarks/bench_lake_fetch.py LAKE [--ids 500] [--days 0]

On an existing ``.ducklake`` (e.g. one built by benchmarks/bench_lake_scale.py; the key
index beside it is built or caught up first, which the figures leave out), samples ``--ids``
articles (of the last ``--days`` days of ``published_at`` when given: near-duplicates of new
articles are mostly recent stories) and reads their texts as ``stories.Representatives``
does, twice each way: by id alone (as before the key index held dates) and by day. Prints
the statements' data files read (EXPLAIN ANALYZE) and wall time. Writes nothing to the lake.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any, cast

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsflow.warehouse import keys as keymod  # noqa: E402
from newsflow.warehouse import lake, storage, stories  # noqa: E402


class Spy:
    """A connection that keeps the statements it runs."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.statements: list[tuple[str, Any]] = []

    def execute(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
        self.statements.append((sql, params))
        return self.con.execute(sql, params)


def files_read(con: duckdb.DuckDBPyConnection, statements: list[tuple[str, Any]]) -> int:
    total = 0
    for sql, params in statements:
        plan = con.execute(f"EXPLAIN ANALYZE {sql}", params).fetchall()
        total += sum(map(int, re.findall(r"Total Files Read:\s*(\d+)", str(plan[0][1]))))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lake", type=Path)
    parser.add_argument("--ids", type=int, default=500)
    parser.add_argument("--days", type=int, default=0, help="sample the last N days only")
    args = parser.parse_args()
    con = lake.connect(storage.locate(args.lake).lake())
    index = keymod.for_lake(con)
    try:
        con.execute("BEGIN")
        started = time.perf_counter()
        assert index.catch_up(con), "the key index is ahead of this transaction: run again"
        print(f"key index caught up in {time.perf_counter() - started:.1f} s")
        recent = (
            f"WHERE published_at >= (SELECT max(published_at) FROM articles) "
            f"- INTERVAL {int(args.days)} DAY"
            if args.days
            else ""
        )
        ids = [
            r[0]
            for r in con.execute(
                f"SELECT article_id FROM (SELECT article_id FROM articles {recent}) "
                f"USING SAMPLE {int(args.ids)} ROWS (reservoir, 7)"
            ).fetchall()
        ]
        row = con.execute(
            f"SELECT count(*) FROM ducklake_list_files('{lake.ALIAS}', 'articles')"
        ).fetchone()
        days = {d.date() for d in index.published(ids).values() if d is not None}
        print(
            f"{args.lake}: {row[0] if row else 0} files of articles; {len(ids)} ids "
            f"on {len(days)} days"
        )
        for name, keys in [("by id", None), ("by day", index)] * 2:
            spy = Spy(con)
            started = time.perf_counter()
            rows = stories._texts(cast(Any, spy), ids, keys)
            took = time.perf_counter() - started
            print(
                f"  {name}: {len(rows)} texts in {took * 1000:.0f} ms, "
                f"{len(spy.statements)} statements, {files_read(con, spy.statements)} files read"
            )
        con.execute("ROLLBACK")
    finally:
        index.close()
        con.close()


if __name__ == "__main__":
    main()

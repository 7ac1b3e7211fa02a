"""Benchmark: the same seed corpus through one and through two process workers on a work pool.

A real Prefect server, a process work pool, `prefect worker start` processes and the
deployments of ``newsflow deploy-pool``; K flow runs of ``ingest-seeds`` (one seed folder each)
are created at once, then the ``load-spool`` run. Prints articles/s for one worker and for two,
and their ratio. Each flow run uses one process for its own stages (NEWSFLOW_WORKERS=1), so
the ratio shows what a second worker adds.

    python -m benchmarks.bench_workers [FILES_PER_RUN] [RUNS]    (default: 600 4)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.bench_seeds import make_corpus
from tests.prefect_server import (
    PYTHON,
    TERMINAL,
    create_run,
    prefect_server,
    run_state,
    start,
    stop,
    wait,
)

ROOT = Path(__file__).resolve().parents[1]


def measure(workers: int, folders: list[Path], tmp: Path) -> tuple[float, int]:
    """Seconds from creating the runs to the loader's end, and articles loaded."""
    work = tmp / f"w{workers}"
    work.mkdir()
    pool = f"bench-{workers}"
    with prefect_server(work) as (api, env, logs):
        shared = {
            **env,
            "NEWSFLOW_DB": str(work / "news.duckdb"),
            "NEWSFLOW_SPOOL": str(work / "spool"),
            "NEWSFLOW_WORKERS": "1",
            "PYTHONPATH": str(ROOT),
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }
        subprocess.run(
            [*PYTHON, "prefect", "work-pool", "create", pool, "--type", "process"],
            env=shared,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [*PYTHON, "newsflow", "deploy-pool", pool],
            env=shared,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=300,
        )
        procs = [
            start(
                [
                    *PYTHON,
                    "prefect",
                    "worker",
                    "start",
                    "--pool",
                    pool,
                    "--type",
                    "process",
                    "--name",
                    f"w{i}",
                    "--limit",
                    "1",
                ],
                {**shared, "NEWSFLOW_LOAD_IN_FLOW": "false"},
                work / f"w{i}.log",
                work,
            )
            for i in range(workers)
        ]
        logs += [work / f"w{i}.log" for i in range(workers)]
        try:
            with httpx.Client(base_url=api, timeout=30) as client:
                time.sleep(5)  # let the workers register and poll once
                t0 = time.perf_counter()
                runs = [
                    create_run(client, "ingest-seeds/pool", {"paths": [str(f)]}) for f in folders
                ]
                wait(
                    "ingest runs",
                    lambda: all(run_state(client, r) in TERMINAL for r in runs),
                    3600,
                    logs,
                )
                loader = create_run(client, "load-spool/pool", {})
                wait("loader", lambda: run_state(client, loader) in TERMINAL, 1800, logs)
                elapsed = time.perf_counter() - t0
                states = [run_state(client, r) for r in [*runs, loader]]
                assert states == ["COMPLETED"] * len(states), states
        finally:
            for proc in procs:
                stop(proc)
    import duckdb

    con = duckdb.connect(str(work / "news.duckdb"), read_only=True)
    loaded = int(con.execute("SELECT count(*) FROM articles").fetchone()[0])  # type: ignore[index]
    con.close()
    return elapsed, loaded


def main(per_run: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folders = []
        for i in range(runs):
            folder = tmp / f"seeds-{i}"
            make_corpus(folder, per_run)
            for p in folder.iterdir():
                p.write_text(p.read_text().replace("/article/", f"/r{i}/article/"))
            folders.append(folder)
        total = per_run * runs
        print(f"{runs} ingest-seeds runs x {per_run} seed files, then one load-spool run")
        results = {}
        for workers in (1, 2):
            seconds, loaded = measure(workers, folders, tmp)
            results[workers] = total / seconds
            print(
                f"{workers} worker(s): {seconds:7.1f} s  {results[workers]:7.1f} articles/s  "
                f"loaded {loaded}"
            )
        print(f"two workers / one worker: {results[2] / results[1]:.2f}x")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [600, 4][len(args) :]))

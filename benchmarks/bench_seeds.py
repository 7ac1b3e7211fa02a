"""Benchmark: seed articles through the real ``ingest-seeds`` flow.

For each N it generates N realistic seed files (real article texts from ../shared/eval, plus
syndicated copies), then, in a fresh process reporting to one local Prefect server, runs the
flow into an empty warehouse and prints articles/s and that process's peak memory. Baseline in
the same run: the bare stages (read, parse, process) on the same files without Prefect, spool
or loader.

    python benchmarks/bench_seeds.py [N ...]      (default: 1000 10000)
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from newsflow.settings import Settings
mode, folder, db, spool = sys.argv[1:5]
paths = sorted(Path(folder).iterdir())
t0 = time.perf_counter()
if mode == "flow":
    from newsflow.flows.seeds import ingest_seeds
    summary = ingest_seeds(paths=[folder], settings=Settings(db=Path(db), spool=spool))
    loaded = summary["load"]["loaded"]
else:
    from newsflow.tasks.process import process_candidates
    from newsflow.tasks.seeds import read_seed_files
    loaded = 0
    for i in range(0, len(paths), 500):
        cands, rejects = read_seed_files(paths[i:i + 500], "bench")
        loaded += len(process_candidates(cands, "bench").articles)
elapsed = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"loaded": loaded, "seconds": elapsed, "peak_mb": peak_mb}))
"""


def make_corpus(folder: Path, n: int) -> None:
    """``n`` seed files of real article texts (the shared eval sets' ground truth; past their
    ~800 texts, syndicated copies with a paragraph dropped, as feeds deliver them)."""
    from benchmarks.corpus_texts import texts

    rng = random.Random(n)
    folder.mkdir(parents=True)
    for i, (url, body) in enumerate(texts(n)):
        paragraphs = [p for p in body.splitlines() if p.strip()]
        title = " ".join(paragraphs[0].split()[:12]) if paragraphs else f"Article {i}"
        date = f"2024{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        if i % 7 == 0:  # some publisher comments, as in the real seed
            paragraphs.insert(1, "Comment: the editors add context here.")
        text = "\n".join([title, date, url, *paragraphs]) + "\n"
        (folder / f"{i:06d}.txt").write_text(text, encoding="utf-8")


def run_child(mode: str, folder: Path, work: Path, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            mode,
            str(folder),
            str(work / f"{mode}.duckdb"),
            str(work / f"{mode}-spool"),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(sizes: list[int]) -> None:
    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    with prefect_test_harness(server_startup_timeout=180):
        from prefect.settings import PREFECT_API_URL

        env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
        print(
            f"{'N':>7} {'flow art/s':>11} {'bare art/s':>11} {'flow/bare':>9} "
            f"{'peak MB':>8} {'loaded':>7}"
        )
        peaks: dict[int, float] = {}
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                make_corpus(work / "seeds", n)
                bare = run_child("bare", work / "seeds", work, env)
                t0 = time.perf_counter()
                flow = run_child("flow", work / "seeds", work, env)
                wall = time.perf_counter() - t0
                rate, bare_rate = n / flow["seconds"], n / bare["seconds"]
                peaks[n] = flow["peak_mb"]
                print(
                    f"{n:>7} {rate:>11.0f} {bare_rate:>11.0f} {rate / bare_rate:>9.2f} "
                    f"{flow['peak_mb']:>8.0f} {int(flow['loaded']):>7}"
                    f"   (process wall time incl. imports: {wall:.1f}s)"
                )
        if len(sizes) >= 2:
            small, large = min(sizes), max(sizes)
            print(f"peak memory N={large} / N={small}: {peaks[large] / peaks[small]:.2f}x")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 10000])

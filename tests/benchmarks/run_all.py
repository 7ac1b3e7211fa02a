"""``make bench``: every benchmark of the project, one after another, output saved.

Each ``tests/benchmarks/bench_*.py`` prints its own figures as ratios against a baseline it
measures in the same run. This runs them all (or those named), shows their output as it comes,
and saves it with the machine's description as ``tests/benchmarks/results/<date>.txt`` so changes
in speed show up in review.

    python -m tests.benchmarks.run_all [NAME ...]      (e.g. seeds fetch workers)
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def machine() -> str:
    import duckdb
    import prefect
    import trafilatura

    return (
        f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} cores; "
        f"prefect {prefect.__version__}, trafilatura {trafilatura.__version__}, "
        f"duckdb {duckdb.__version__}"
    )


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in names]
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC)
    lines = [f"newsflow benchmarks, {stamp:%Y-%m-%d %H:%M} UTC", machine(), ""]
    print("\n".join(lines), flush=True)
    failed = 0
    for script in scripts:
        header = f"== {script.stem} =="
        print(header, flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", f"tests.benchmarks.{script.stem}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        body = proc.stdout.strip()
        if proc.returncode != 0:
            failed += 1
            body += f"\n(failed with exit {proc.returncode})\n{proc.stderr.strip()[-2000:]}"
        body += f"\n({time.perf_counter() - t0:.0f} s)"
        print(body + "\n", flush=True)
        lines += [header, body, ""]
    target = out_dir / f"{stamp:%Y-%m-%d}.txt"
    target.write_text("\n".join(lines), encoding="utf-8")
    print(f"saved {target.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

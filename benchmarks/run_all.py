"""``make bench``: every benchmark of the project, one after another, output saved.

Each ``benchmarks/bench_*.py`` prints its own figures as ratios against a baseline it
measures in the same run. This runs them all (or those named), shows their output as it comes,
and saves it with the machine's description as ``benchmarks/results/<date>.txt`` so changes
in speed show up in review.

    python -m benchmarks.run_all [NAME ...]      (e.g. seeds fetch workers)

Run with names, it updates only those sections of the day's file (each marked with the time
it ran) and keeps the others.
"""

from __future__ import annotations

import os
import platform
import re
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
            [sys.executable, "-m", f"benchmarks.{script.stem}"],
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
    if names and target.exists():
        lines = merge(target.read_text(encoding="utf-8"), lines, f"{stamp:%H:%M} UTC")
    target.write_text("\n".join(lines), encoding="utf-8")
    print(f"saved {target.relative_to(ROOT)}")
    return 1 if failed else 0


_SECTION = re.compile(r"^== (bench_\w+) ==")


def _sections(lines: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """A results file's head (lines before the first section) and its sections by name."""
    head: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] = head
    for line in lines:
        match = _SECTION.match(line)
        if match:
            current = sections.setdefault(match.group(1), [])
        current.append(line)
    return head, sections


def merge(previous: str, fresh: list[str], when: str) -> list[str]:
    """The day's results with the sections of a partial run replaced (or added)."""
    old_head, old = _sections(previous.splitlines())
    _, new = _sections(fresh)
    for name, body in new.items():
        body[0] = f"{body[0]} (run {when})"
        old[name] = body
    head = [line for line in old_head if line.strip()]
    head.append(f"re-run at {when}: {', '.join(new)}")
    return [*head, "", *(line for name in sorted(old) for line in old[name])]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

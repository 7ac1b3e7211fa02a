"""Quality gate: newsflow's extraction beside bare trafilatura on the three shared sets.

    python eval/evaluate.py                 # every page of every set (``make eval``)
    python eval/evaluate.py --subset        # the fast subset ``make test`` checks
    python eval/evaluate.py --write-baseline  # pin the figures in baseline.json

Both systems get the same decoded page in the same worker process, one after the other, and
are timed by CPU time (``time.process_time``: other processes on the machine do not count).
"bare trafilatura" is ``trafilatura.extract(html, url=url)`` with default settings; on
trafilatura-eval it is that set's reference call (comments and formatting off, tables on).
Scores follow each set's published metric (eval/corpora.py). Exit status 1 if
newsflow falls below the pinned baseline by more than ``TOLERANCE`` on any set.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eval.corpora import EVAL_ROOT, SETS, aggregate, pages, score_page  # noqa: E402

BASELINE = Path(__file__).with_name("baseline.json")
TOLERANCE = 0.005  # F1 a change may lose on the fast subset before the gate fails
SUBSET_SHARE = {"fundus": 0.5, "wcxb-dev": 0.05, "trafilatura-eval": 0.05}
TARGETS = {"fundus": 0.95, "wcxb-dev": 0.93, "trafilatura-eval": 0.925}
TIME_BUDGET = 1.3  # newsflow may take this many times bare trafilatura's CPU time


def page_ids(set_name: str) -> list[str]:
    root = EVAL_ROOT / set_name
    if set_name == "fundus":
        return sorted(json.loads((root / "ground_truth.json").read_text()))
    if set_name == "wcxb-dev":
        return sorted(p.stem for p in (root / "ground-truth").glob("*.json"))
    data = json.loads((root / "evaldata.json").read_text())
    return sorted(item["file"] for item in data.values())


def subset_ids(set_name: str) -> set[str]:
    """A stable sample: the pages whose id hashes below the set's share."""
    share = SUBSET_SHARE[set_name]
    return {i for i in page_ids(set_name) if zlib.crc32(i.encode()) / 2**32 < share}


def _bare(set_name: str, html: str, url: str) -> str | None:
    import trafilatura

    if set_name == "trafilatura-eval":
        return trafilatura.extract(
            html, url=url, include_comments=False, include_tables=True, include_formatting=False
        )
    return trafilatura.extract(html, url=url)


_REJECTED: list[str] = []  # the reject reason of the last page, if it was rejected


def _newsflow(html: str, url: str) -> str:
    from newsflow.tasks.errors import BadInput
    from newsflow.tasks.extract import extract

    _REJECTED.clear()
    try:
        return extract(html, url).text
    except BadInput as error:  # every eval page is an article: a reject is a miss
        _REJECTED.append(f"{error.reason}: {error.detail}")
        return ""


_WARM: list[bool] = []


def _timed(run: Any) -> tuple[Any, float]:
    started = time.process_time()
    result = run()
    return result, time.process_time() - started


def _run_chunk(job: tuple[str, list[str], bool]) -> list[dict[str, Any]]:
    set_name, ids, with_bare = job
    results = []
    for n, page in enumerate(pages(set_name, set(ids))):
        if not _WARM:  # imports and first-call set-up are not extraction time
            _newsflow(page.html, page.url)
            _bare(set_name, page.html, page.url)
            _WARM.append(True)
        row: dict[str, Any] = {"id": page.page_id}
        runs = [("newsflow", lambda p=page: _newsflow(p.html, p.url))]
        if with_bare:
            runs.append(("trafilatura", lambda p=page: _bare(set_name, p.html, p.url)))
        if n % 2:  # alternate who goes first, so neither gains from warm caches
            runs.reverse()
        for name, run in runs:
            output, seconds = _timed(run)
            row[name] = score_page(page, output)
            row[name + "_s"] = seconds
            if name == "newsflow" and _REJECTED:
                row["rejected"] = _REJECTED[0]
        results.append(row)
    return results


def evaluate(
    sets: tuple[str, ...], *, subset: bool, with_bare: bool, workers: int
) -> dict[str, dict[str, Any]]:
    jobs = []
    for set_name in sets:
        ids = sorted(subset_ids(set_name)) if subset else page_ids(set_name)
        jobs += [(set_name, ids[i : i + 10], with_bare) for i in range(0, len(ids), 10)]
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in sets}
    # Worker processes (spawned, so nothing of this process is shared): trafilatura is never
    # run from threads.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for (set_name, _, _), result in zip(jobs, pool.map(_run_chunk, jobs), strict=True):
            rows[set_name].extend(result)
    report: dict[str, dict[str, Any]] = {}
    for set_name, found in rows.items():
        entry: dict[str, Any] = {
            "newsflow": aggregate(set_name, [r["newsflow"] for r in found]),
            "newsflow_cpu_s": sum(r["newsflow_s"] for r in found),
            "rejected": {r["id"]: r["rejected"] for r in found if "rejected" in r},
        }
        if with_bare:
            entry["trafilatura"] = aggregate(set_name, [r["trafilatura"] for r in found])
            entry["trafilatura_cpu_s"] = sum(r["trafilatura_s"] for r in found)
        report[set_name] = entry
    return report


def print_report(report: dict[str, dict[str, Any]], baseline: dict[str, Any] | None) -> None:
    header = f"{'set':<18}{'system':<22}{'pages':>6}{'F1':>8}{'P':>8}{'R':>8}{'CPU s':>9}"
    print(header)
    print("-" * len(header))
    total_n = total_t = 0.0
    for set_name, entry in report.items():
        for system in ("trafilatura", "newsflow"):
            if system not in entry:
                continue
            m = entry[system]
            label = "bare trafilatura" if system == "trafilatura" else "newsflow"
            print(
                f"{set_name:<18}{label:<22}{m['pages']:>6}{m['f1']:>8.4f}{m['precision']:>8.4f}"
                f"{m['recall']:>8.4f}{entry[system + '_cpu_s']:>9.1f}"
            )
        if "trafilatura" in entry:
            gain = entry["newsflow"]["f1"] - entry["trafilatura"]["f1"]
            total_n += entry["newsflow_cpu_s"]
            total_t += entry["trafilatura_cpu_s"]
            target = TARGETS[set_name]
            print(
                f"{'':<18}newsflow - bare F1 {gain:+.4f}; target {target}: "
                f"{'met' if entry['newsflow']['f1'] >= target else 'NOT met'}"
            )
        rejected = entry.get("rejected", {})
        reasons: dict[str, int] = {}
        for why in rejected.values():
            reasons[why.split(":")[0]] = reasons.get(why.split(":")[0], 0) + 1
        shown = ", ".join(f"{r} {n}" for r, n in sorted(reasons.items())) or "none"
        print(f"{'':<18}article pages rejected by newsflow: {shown}")
        for page_id, why in sorted(rejected.items()):
            if why.startswith("no_story"):
                print(f"{'':<18}  {page_id}: {why[:150]}")
        if baseline and set_name in baseline:
            pinned = baseline[set_name]["newsflow"]["f1"]
            print(f"{'':<18}pinned baseline F1 {pinned:.4f}")
    if total_t:
        ratio = total_n / total_t
        print(
            f"\nextraction CPU time newsflow / bare trafilatura: {ratio:.2f}x "
            f"(budget {TIME_BUDGET}x: {'met' if ratio <= TIME_BUDGET else 'NOT met'})"
        )


def regressions(report: dict[str, dict[str, Any]], baseline: dict[str, Any]) -> list[str]:
    found = []
    for set_name, entry in report.items():
        pinned = baseline.get(set_name, {}).get("newsflow", {}).get("f1")
        if pinned is not None and entry["newsflow"]["f1"] < pinned - TOLERANCE:
            found.append(f"{set_name}: F1 {entry['newsflow']['f1']:.4f} < pinned {pinned:.4f}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subset", action="store_true", help="only the fast subset")
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=SETS)
    parser.add_argument("--no-bare", action="store_true", help="skip bare trafilatura")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--write-baseline", action="store_true", help="pin these figures")
    args = parser.parse_args(argv)
    started = time.monotonic()
    report = evaluate(
        tuple(args.sets), subset=args.subset, with_bare=not args.no_bare, workers=args.workers
    )
    stored = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    key = "subset" if args.subset else "full"
    print_report(report, stored.get(key))
    print(f"({time.monotonic() - started:.0f}s wall)")
    if args.write_baseline:
        stored[key] = {
            s: {k: v for k, v in e.items() if k in ("newsflow", "trafilatura")}
            for s, e in report.items()
        }
        BASELINE.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
        print(f"pinned in {BASELINE}")
        return 0
    failed = regressions(report, stored.get(key, {}))
    for line in failed:
        print("REGRESSION", line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: what an entity-bomb feed costs ``parse_feed`` next to a benign feed of the same size.

    python benchmarks/bench_hostile_feed.py [--repeat 20] [--root PATH] [--timeout 300]

Each feed is parsed in a fresh process (so its peak memory is its own): CPU time per parse
and peak RSS, and their ratios to the benign feed of the same size. The hostile feeds are
billion laughs whose DOCTYPE hides behind an entity value holding a ``<`` (UTF-8 and
UTF-16) and a quadratic blowup with the same trick. The target is within 2x of the benign
feed. ``--root`` measures another checkout's code (e.g. an older version) the same way;
a case that runs past ``--timeout`` seconds is reported as such. Figures, never pass/fail.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
URL = "http://bench.example.com/feed.xml"


def laughs(encoding: str = "utf-8") -> bytes:
    chain = "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    doc = (
        f'<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE rss [<!ENTITY a0 "<b/>">{chain}]>'
        '<rss version="2.0"><channel><title>L</title><item><title>&a9;</title>'
        "<link>/x</link></item></channel></rss>"
    )
    return doc.encode("utf-16") if encoding == "utf-16" else doc.encode()


def quadratic(size: int = 20_000, refs: int = 20_000) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY z "<b/>"><!ENTITY a "{"A" * size}">]>'
        f'<rss version="2.0"><channel><title>Q</title><item><title>{"&a;" * refs}</title>'
        "<link>/x</link></item></channel></rss>"
    ).encode()


def benign(size: int, encoding: str = "utf-8") -> bytes:
    """An ordinary feed padded by a comment to ``size`` bytes (in ``encoding``)."""
    width = 2 if encoding == "utf-16" else 1
    body = (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>P'
        "</title><item><title>Plain</title><link>/x</link></item></channel></rss>"
    )
    pad = max(0, size // width - len(body) - 8)
    doc = body + "<!--" + "x" * pad + "-->"
    return doc.encode("utf-16") if encoding == "utf-16" else doc.encode()


CASES = {
    "laughs-utf8": lambda: laughs(),
    "benign-utf8": lambda: benign(len(laughs())),
    "laughs-utf16": lambda: laughs("utf-16"),
    "benign-utf16": lambda: benign(len(laughs("utf-16")), "utf-16"),
    "quadratic": lambda: quadratic(),
    "benign-quadratic-size": lambda: benign(len(quadratic())),
}
PAIRS = [
    ("laughs-utf8", "benign-utf8"),
    ("laughs-utf16", "benign-utf16"),
    ("quadratic", "benign-quadratic-size"),
]


def child(case: str, repeat: int, root: str) -> None:
    """In a fresh process: import, then parse ``repeat`` times; one JSON line of figures."""
    import resource
    import time

    sys.path.insert(0, root)
    from newsflow.tasks.feeds import parse_feed

    body = CASES[case]()
    parse_feed(benign(200), URL, "application/rss+xml")  # imports and first-call costs
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()
    feed = None
    for _ in range(repeat):
        feed = parse_feed(body, URL, "application/rss+xml")
    cpu = (time.process_time() - started) / repeat
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert feed is not None
    title = feed.entries[0].title if feed.entries else None
    print(
        json.dumps(
            {
                "bytes": len(body),
                "cpu_ms": cpu * 1000,
                "peak_mb": peak_kb / 1024,
                "growth_mb": (peak_kb - base_kb) / 1024,
                "entries": len(feed.entries),
                "title_chars": len(title or ""),
                "error": (feed.error or "")[:80],
            }
        )
    )


def measure(case: str, repeat: int, root: str, timeout: float) -> dict | None:
    cmd = [sys.executable, __file__, "--child", case, "--repeat", str(repeat), "--root", root]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        raise SystemExit(f"{case} failed:\n{proc.stderr[-2000:]}")
    figures: dict = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--root", default=str(ROOT), help="The checkout whose code is measured.")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.repeat, args.root)
        return
    print(f"parse_feed of {args.root}, {args.repeat} parses per case, each case in its own process")
    print(f"{'case':<22}{'bytes':>7}{'CPU ms':>10}{'peak MB':>9}{'grew MB':>9}  entries, error")
    results = {}
    for case in CASES:
        figures = measure(case, args.repeat, args.root, args.timeout)
        results[case] = figures
        if figures is None:
            print(f"{case:<22}  over {args.timeout:g} s: stopped")
            continue
        print(
            f"{case:<22}{figures['bytes']:>7}{figures['cpu_ms']:>10.2f}{figures['peak_mb']:>9.0f}"
            f"{figures['growth_mb']:>9.1f}  {figures['entries']}, {figures['error'] or '-'}"
        )
    print("\nhostile / benign of the same size (target: within 2x)")
    for hostile, plain in PAIRS:
        h, b = results[hostile], results[plain]
        if h is None or b is None:
            print(f"{hostile:<22} no ratio: a case did not finish")
            continue
        print(
            f"{hostile:<22} CPU x{h['cpu_ms'] / b['cpu_ms']:.2f}, "
            f"peak memory x{h['peak_mb'] / b['peak_mb']:.2f} "
            f"({h['growth_mb']:+.1f} MB vs {b['growth_mb']:+.1f} MB after imports)"
        )


if __name__ == "__main__":
    main()

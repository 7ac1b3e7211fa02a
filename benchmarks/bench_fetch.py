"""Benchmark: fetching article pages from several hosts against the politeness bound.

N article pages spread over H local hosts (distinct loopback addresses 127.0.0.x, allowed for
the run), each response delayed 100-300 ms. The fetcher may keep at most C requests in flight
per host, so no fetcher can beat H x C / mean latency pages per second: that is the bound the
measured rate is divided by. Extraction runs in worker processes as in a real run; its own
rate (the same pages, no network) is measured first, so the printout shows which was the limit.

    PYTHONPATH=. python benchmarks/bench_fetch.py [--pages 240] [--hosts 4] [--per-host 2]

Prints figures and ratios; it never passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsflow.settings import Settings  # noqa: E402
from newsflow.tasks import fetch as fetch_mod  # noqa: E402
from newsflow.tasks.extraction_pool import ExtractionPool, extract_job  # noqa: E402
from newsflow.tasks.records import Candidate  # noqa: E402
from tests.fetch_server import FaultServer, article_html, page, sample_paragraphs  # noqa: E402


def _serve(hosts: int, pages: int, seed: int, conn: Connection) -> None:
    """In its own process (so the servers never share the fetcher's GIL): serve the pages,
    send the URLs, wait for "stop", send the latencies injected."""
    rng = random.Random(seed)
    delays: list[float] = []
    lock = threading.Lock()

    def latency() -> float:
        with lock:
            value = rng.uniform(0.1, 0.3)
            delays.append(value)
        return value

    servers = []
    for h in range(hosts):
        srv = FaultServer(host=f"127.0.0.{h + 1}", latency=latency).start()
        srv.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")
        servers.append(srv)
    urls = []
    for i in range(pages):
        srv = servers[i % hosts]
        path = f"/news/{i}"
        html = article_html(f"Story {i}", sample_paragraphs(f"town {i}", 8))
        srv.routes[path] = page(html)
        urls.append(srv.url(path))
    conn.send(urls)
    conn.recv()
    for srv in servers:
        srv.stop()
    conn.send(delays)


def _extraction_rate(pool: ExtractionPool, pages: int) -> float:
    """Pages per second the extraction pool manages alone (no network)."""
    executor = pool.start()
    htmls = [article_html(f"Story {i}", sample_paragraphs(f"town {i}", 8)) for i in range(pages)]
    list(executor.map(extract_job, htmls[:4], ["http://x/"] * 4))  # warm the workers
    started = time.perf_counter()
    list(executor.map(extract_job, htmls, [f"http://x/{i}" for i in range(pages)]))
    return pages / (time.perf_counter() - started)


def run(pages: int, hosts: int, per_host: int, in_flight: int, workers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        settings = Settings(
            db=Path(tmp) / "news.duckdb",
            spool=str(Path(tmp) / "spool"),
            allow_private=",".join(f"127.0.0.{h + 1}" for h in range(hosts)),
            per_host_concurrency=per_host,
            per_host_delay=0,
            fetch_concurrency=in_flight,
            workers=workers,
            _env_file=None,  # type: ignore[call-arg]
        )
        load = os.getloadavg()
        pool = stack.enter_context(ExtractionPool(settings))
        extraction = _extraction_rate(pool, min(pages, 200))
        ours, theirs = multiprocessing.Pipe()
        server = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(hosts, pages, 7, theirs), daemon=True
        )
        server.start()
        try:
            urls = ours.recv()
            items = [Candidate(origin="url", source=u, url=u) for u in urls]
            started = time.perf_counter()
            got, rejects = asyncio.run(fetch_mod.fetch_pages(items, settings, "bench", pool=pool))
            elapsed = time.perf_counter() - started
            ours.send("stop")
            delays = ours.recv()
        finally:
            server.join(timeout=10)
            if server.is_alive():
                server.kill()
        mean_latency = statistics.fmean(delays)
        bound = hosts * per_host / mean_latency
        rate = len(got) / elapsed
        limit = "extraction" if extraction < bound else "politeness"
        print(
            f"pages={pages} hosts={hosts} per_host_concurrency={per_host} in_flight={in_flight} "
            f"workers={workers or 'cores'}"
        )
        print(f"  load average before the run: {load[0]:.2f} (2 cores shared)")
        print(f"  loaded={len(got)} rejected={len(rejects)} elapsed={elapsed:.2f}s")
        print(f"  mean injected latency={mean_latency * 1000:.0f} ms over {len(delays)} requests")
        print(f"  extraction alone: {extraction:.1f} pages/s")
        print(f"  politeness bound (hosts x per-host / mean latency): {bound:.1f} pages/s")
        print(f"  measured: {rate:.1f} pages/s")
        print(f"  ratio measured / politeness bound: {rate / bound:.2f}")
        print(
            f"  ratio measured / min(bound, extraction): {rate / min(bound, extraction):.2f}"
            f"  (limit: {limit})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=240)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    run(args.pages, args.hosts, args.per_host, args.in_flight, args.workers)


if __name__ == "__main__":
    main()

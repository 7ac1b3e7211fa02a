"""Benchmark: real pages served from loopback to rows in DuckDB, against bare trafilatura.

    PYTHONPATH=. python benchmarks/bench_end_to_end.py [--pages 300] [--hosts 4]

The first ``--pages`` pages of the shared eval sets (fundus, then wcxb-dev) are served by
local HTTP servers on several loopback addresses (in their own process, no added latency).
newsflow fetches them (``fetch_and_process``: async fetching, extraction in a process pool
on every core, processing) and loads them as the ingest-urls flow does: every 100 processed
pages are spooled as a part while the fetch goes on, a background loader follows the spool
and merges each part as it lands, and the rest is spooled and loaded at the end. Pages per
second from the first request to the committed rows. The baseline, in the same run: bare
``trafilatura.extract`` (default settings) on the same decoded pages in one process, one
core, at the priority of the extraction workers. Prints both rates and their ratio (target
>= 1.7x); it never passes or fails.

The machine is shared: ``--repeat N`` runs baseline and newsflow N times, alternately, and
also prints the ratio of the best rates and the median of the runs' ratios. Each run also
prints the CPU seconds of the fetching process and of the extraction workers (Linux), which
other processes on the machine do not inflate as much as wall time.

A second baseline, also in the same run: newspaper4k's parse loop (``Article(url)``,
``download(input_html=...)``, ``parse()``) on the same decoded pages, one core, offline (no
image fetching, no NLP; sockets are refused while it runs). newspaper4k is a benchmark-only
dependency (the ``bench`` extra, which ``make bench`` installs); without it that line says so.
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsflow.flows.loading import BackgroundLoader  # noqa: E402
from newsflow.flows.summary import RunSummary  # noqa: E402
from newsflow.settings import Settings  # noqa: E402
from newsflow.tasks import fetch as fetch_mod  # noqa: E402
from newsflow.tasks.extraction_pool import ExtractionPool, extract_job, lower_priority  # noqa: E402
from newsflow.tasks.records import Candidate  # noqa: E402
from newsflow.tasks.spool import write_batch  # noqa: E402
from newsflow.warehouse.db import connect_reader, connect_writer  # noqa: E402
from newsflow.warehouse.loader import load_spool  # noqa: E402
from tests.fetch_server import FaultServer, page  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
TARGET = 1.7


def raw_pages(n: int) -> list[bytes]:
    files = sorted((EVAL / "fundus" / "html").glob("*.html.gz"))
    files += sorted((EVAL / "wcxb-dev" / "html").glob("*.html.gz"))
    return [gzip.decompress(p.read_bytes()) for p in files[:n]]


def _serve(hosts: int, n: int, conn: Connection) -> None:
    """In its own process: serve the pages on ``hosts`` loopback addresses, send the URLs."""
    servers = []
    for h in range(hosts):
        srv = FaultServer(host=f"127.0.0.{h + 1}").start()
        srv.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")
        servers.append(srv)
    urls = []
    for i, body in enumerate(raw_pages(n)):
        srv = servers[i % hosts]
        path = f"/news/{i}"
        srv.routes[path] = page(body, "text/html")
        urls.append(srv.url(path))
    conn.send(urls)
    conn.recv()
    for srv in servers:
        srv.stop()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (0 where /proc is missing)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def bare_rate(n: int) -> tuple[float, float]:
    """Pages/s and CPU seconds of bare trafilatura.extract on the pages, in one process at
    the priority of newsflow's extraction workers (``nice`` 5): on a shared machine the
    two then compete alike with whatever else runs."""
    with ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=lower_priority
    ) as pool:
        return pool.submit(_bare_rate, n).result()


def _bare_rate(n: int) -> tuple[float, float]:
    import trafilatura
    from trafilatura.external import jt_stoplist_init
    from trafilatura.utils import decode_file

    htmls = [decode_file(body) for body in raw_pages(n)]
    trafilatura.extract(htmls[0])  # imports and first-call set-up
    jt_stoplist_init()  # justext's first call; newsflow's workers load it at pool start
    started, cpu = time.perf_counter(), time.process_time()
    for html in htmls:
        trafilatura.extract(html)
    return len(htmls) / (time.perf_counter() - started), time.process_time() - cpu


def newsflow_run(args: argparse.Namespace) -> tuple[float, str]:
    """One timed run, loopback -> DuckDB: pages/s and the line describing it."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            db=Path(tmp) / "news.duckdb",
            spool=str(Path(tmp) / "spool"),
            allow_private=",".join(f"127.0.0.{h + 1}" for h in range(args.hosts)),
            per_host_concurrency=8,
            per_host_delay=0,
            fetch_concurrency=32,
            respect_robots=False,
            _env_file=None,  # type: ignore[call-arg]
        )
        connect_writer(settings.db, 30).close()  # migrated beforehand, as any warehouse in use
        pool = ExtractionPool(settings)
        executor = pool.start()
        list(executor.map(extract_job, ["<html><p>warm</p></html>"] * 8, ["http://x/"] * 8))
        workers = list(getattr(executor, "_processes", {}))
        ours, theirs = multiprocessing.Pipe()
        server = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(args.hosts, args.pages, theirs), daemon=True
        )
        server.start()
        try:
            urls = ours.recv()
            items = [Candidate(origin="url", source=u, url=u) for u in urls]
            cpu_main, cpu_workers = time.process_time(), cpu_seconds(workers)
            started = time.perf_counter()
            # as the ingest-urls flow does: parts spooled while fetching, the loader
            # following the spool and merging each part as it lands, then the rest
            summary = RunSummary(run_id="bench", flow="bench")
            loader = BackgroundLoader(summary, settings)
            loader.follow(interval=0.2)
            batch = fetch_mod.fetch_and_process(
                items, settings, "bench", spool=settings.spool, pool=pool
            )
            fetched = time.perf_counter()
            loader.submit(write_batch(batch, settings.spool).batch_id)
            report = loader.wait()
            report.add(load_spool(settings.db, settings.spool, lock_wait=30))
            elapsed = time.perf_counter() - started
            loading = time.perf_counter() - fetched
            cpu_main = time.process_time() - cpu_main
            cpu_workers = cpu_seconds(workers) - cpu_workers
            ours.send("stop")
        finally:
            server.join(timeout=10)
            if server.is_alive():
                server.kill()
            pool.close()
        con = connect_reader(settings.db)
        rows = con.execute("SELECT count(*) FROM articles").fetchone()
        raw = con.execute("SELECT count(*) FROM raw_pages").fetchone()
        con.close()
    rate = len(urls) / elapsed
    line = (
        f"  newsflow loopback -> DuckDB: {elapsed:.1f}s, {rate:.1f} pages/s "
        f"(articles {rows[0] if rows else 0}, raw pages {raw[0] if raw else 0}, "
        f"rejected {report.rejects}); {report.batches} batches loaded, "
        f"{loading:.1f}s of it after the last page\n"
        f"  CPU: fetching process {cpu_main:.1f}s, extraction workers {cpu_workers:.1f}s"
    )
    return rate, line


# --- newspaper4k baseline (the ``bench`` extra) ------------------------------------------


def newspaper_rate(n: int) -> float | None:
    """newspaper4k's parse loop on the same decoded pages, one process; None if not installed."""
    import socket
    from unittest import mock

    try:
        from newspaper import Article
    except ImportError:
        return None
    from trafilatura.utils import decode_file

    htmls = [decode_file(body) for body in raw_pages(n)]

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("the newspaper4k baseline runs offline")

    def parse(i: int, html: str) -> None:
        article = Article(f"http://127.0.0.1/news/{i}", fetch_images=False)
        article.download(input_html=html)
        article.parse()

    with mock.patch.object(socket.socket, "connect", refuse):
        parse(0, htmls[0])  # imports and first-call set-up
        started = time.perf_counter()
        for i, html in enumerate(htmls):
            parse(i, html)
        return len(htmls) / (time.perf_counter() - started)


# ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, alternately")
    args = parser.parse_args()
    paper = newspaper_rate(args.pages)
    bare: list[float] = []
    ours: list[float] = []
    for run in range(args.repeat):
        load = os.getloadavg()[0]
        bare_pps, bare_cpu = bare_rate(args.pages)
        bare.append(bare_pps)
        rate, line = newsflow_run(args)
        ours.append(rate)
        print(
            f"pages={args.pages} hosts={args.hosts} cores={os.cpu_count()} load before={load:.2f}"
            + (f" (run {run + 1} of {args.repeat})" if args.repeat > 1 else "")
        )
        print(
            f"  bare trafilatura.extract, one process: {bare[-1]:.1f} pages/s (CPU {bare_cpu:.1f}s)"
        )
        print(line)
        print(f"  ratio newsflow / bare one core: {rate / bare[-1]:.2f}x (target >= {TARGET}x)")
    if args.repeat > 1:
        ratios = [o / b for o, b in zip(ours, bare, strict=True)]
        print(
            f"best rates: bare {max(bare):.1f} pages/s, newsflow {max(ours):.1f} pages/s, "
            f"ratio {max(ours) / max(bare):.2f}x; median ratio {statistics.median(ratios):.2f}x "
            f"(target >= {TARGET}x)"
        )
    if paper is None:
        print("  newspaper4k: not installed (pip install -e '.[bench]')")
    else:
        print(f"  newspaper4k parse loop, one process: {paper:.1f} pages/s")
        print(f"  ratio newsflow / newspaper4k one core: {max(ours) / paper:.2f}x")


if __name__ == "__main__":
    main()

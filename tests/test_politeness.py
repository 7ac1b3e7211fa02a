"""Per-host politeness holds across processes: two fetching processes share one host's
concurrency and spacing through the lock files beside the warehouse."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

from newsflow.settings import Settings
from newsflow.tasks.fetcher import Fetcher
from tests.fetch_server import FaultServer, article_html, page, sample_paragraphs


def _fetch_all(folder: str, urls: list[str], concurrency: int, delay: float) -> None:
    settings = Settings(
        db=Path(folder) / "news.duckdb",
        spool=str(Path(folder) / "spool"),
        allow_private="127.0.0.1",
        per_host_concurrency=concurrency,
        per_host_delay=delay,
        respect_robots=False,
        _env_file=None,  # type: ignore[call-arg]
    )

    async def go() -> None:
        async with Fetcher(settings) as fetcher:
            await asyncio.gather(*(fetcher.page(u) for u in urls))

    asyncio.run(go())


def _run_two_processes(tmp_path: Path, concurrency: int, delay: float) -> tuple[int, list[float]]:
    srv = FaultServer().start()
    active = 0
    peak = 0
    lock = threading.Lock()
    html = page(article_html("Shared host", sample_paragraphs("Oslo")))

    def slow(h: Any) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.15)
        with lock:
            active -= 1
        html(h)

    for i in range(12):
        srv.routes[f"/p{i}"] = slow
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(
            target=_fetch_all,
            args=(str(tmp_path), [srv.url(f"/p{i}") for i in range(k, 12, 2)], concurrency, delay),
        )
        for k in (0, 1)
    ]
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        srv.stop()
    starts = sorted(h.at for h in srv.hits)
    assert len(starts) == 12
    return peak, starts


def test_concurrency_is_shared_across_processes(tmp_path: Path) -> None:
    peak, _ = _run_two_processes(tmp_path, concurrency=2, delay=0)
    assert peak == 2  # each process alone would allow 2: together still 2


def test_spacing_is_shared_across_processes(tmp_path: Path) -> None:
    _, starts = _run_two_processes(tmp_path, concurrency=1, delay=0.25)
    gaps = sorted(b - a for a, b in itertools.pairwise(starts))
    # Each process alone would space its own 6 requests over 1.25 s, interleaved with the
    # other's; shared, the 12 need 11 gaps of at least 0.25 s. (Arrival times jitter a little with
    # new connections on a busy machine, so the span and the median gap are checked.)
    assert starts[-1] - starts[0] >= 11 * 0.25 - 0.1, gaps
    assert gaps[len(gaps) // 2] >= 0.24, gaps

"""Extraction in worker processes: a hanging worker is ended, a crashing one replaced, and
the pool keeps working for the pages after them."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

from newsflow.settings import Settings
from tasks.extraction_pool import ExtractionPool, Failed, extract_job
from tests.fetch_server import article_html, sample_paragraphs


def _hang(html: str, url: str) -> None:
    time.sleep(60)


def _segfault(html: str, url: str) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def test_hang_crash_then_a_good_page(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "n.duckdb", workers=1, _env_file=None)  # type: ignore[call-arg]
    html = article_html("Pool", sample_paragraphs("Narvik"))

    async def go(pool: ExtractionPool) -> list[Any]:
        return [
            await pool.run(_hang, html, "http://x/1", timeout=3),
            await pool.run(_segfault, html, "http://x/2"),
            await pool.run(extract_job, html, "http://x/3"),
        ]

    with ExtractionPool(settings) as pool:
        hung, crashed, good = asyncio.run(go(pool))
    assert isinstance(hung, Failed) and hung.reason == "extract_timeout"
    assert isinstance(crashed, Failed) and crashed.reason == "extract_crash"
    assert not isinstance(good, Failed) and "Narvik" in good.text

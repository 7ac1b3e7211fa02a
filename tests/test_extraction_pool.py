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
from tasks.fetch import _extract_job, _reset_pool, extract_in_worker
from tests.fetch_server import article_html, sample_paragraphs


def _hang(html: str, url: str) -> tuple[str, Any]:
    time.sleep(60)
    return "ok", None


def _segfault(html: str, url: str) -> tuple[str, Any]:
    os.kill(os.getpid(), signal.SIGSEGV)
    return "ok", None


def test_hang_crash_then_a_good_page(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "n.duckdb", workers=1, _env_file=None)  # type: ignore[call-arg]
    html = article_html("Pool", sample_paragraphs("Narvik"))

    async def go() -> list[tuple[str, Any]]:
        return [
            await extract_in_worker(settings, html, "http://x/1", job=_hang, timeout=3),
            await extract_in_worker(settings, html, "http://x/2", job=_segfault),
            await extract_in_worker(settings, html, "http://x/3", job=_extract_job),
        ]

    try:
        hung, crashed, good = asyncio.run(go())
    finally:
        _reset_pool()
    assert hung[0] == "error" and hung[1][0] == "extract_timeout"
    assert crashed[0] == "error" and crashed[1][0] == "extract_crash"
    assert good[0] == "ok" and "Narvik" in good[1].text

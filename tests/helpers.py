"""Test helpers: realistic seed files and spooled batches."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from newsflow.settings import Settings
from newsflow.tasks.process import process_candidates
from newsflow.tasks.seeds import read_seed_files
from newsflow.tasks.spool import write_batch

WORDS = (
    "government",
    "minister",
    "election",
    "market",
    "report",
    "police",
    "court",
    "city",
    "council",
    "weather",
    "energy",
    "prices",
    "talks",
    "summit",
    "border",
    "security",
    "trade",
    "health",
    "hospital",
    "school",
    "climate",
    "storm",
    "vote",
    "budget",
    "court",
    "ruling",
    "company",
    "shares",
    "investors",
    "union",
    "strike",
    "festival",
    "museum",
    "research",
)


def make_seed_files(folder: Path, n: int, *, seed: int = 7, paragraphs: int = 8) -> list[Path]:
    """``n`` article seed files with distinct URLs and texts (a few with comments)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        body = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(25, 60))).capitalize() + "."
            for _ in range(paragraphs)
        ]
        if i % 5 == 0:
            body.insert(2, "Comment: the editors add context to this paragraph.")
        day = datetime(2024, 1, 1, tzinfo=UTC).toordinal() + i % 365
        date = datetime.fromordinal(day).strftime("%Y%m%d")
        title = f"Story {i}: " + " ".join(rng.choice(WORDS) for _ in range(6))
        url = f"https://news{i % 17}.example.com/{2024}/story-{i}"
        path = folder / f"{i:06d}.txt"
        path.write_text("\n".join([title, date, url, *body]) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def spool_seed_files(paths: list[Path], settings: Settings, batch_size: int = 100) -> list[str]:
    """Process seed files into spool batches without Prefect; the batch ids."""
    ids = []
    for i in range(0, len(paths), batch_size):
        cands, rejects = read_seed_files(paths[i : i + batch_size], "test-run")
        batch = process_candidates(cands, "test-run")
        batch.rejects.extend(rejects)
        ids.append(write_batch(batch, settings.spool).batch_id)
    return ids


def hold_reader(db: Path, release: Path, limit: float = 300) -> subprocess.Popen[str]:
    """Another process holding the warehouse open read-only (as an analyst's session would)
    until ``release`` exists (or ``limit`` seconds pass); returns once the file is held."""
    code = (
        "import duckdb, os, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
        "print('holding', flush=True); end = time.monotonic() + float(sys.argv[3])\n"
        "while not os.path.exists(sys.argv[2]) and time.monotonic() < end: time.sleep(0.05)\n"
        "c.close()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(db), str(release), str(limit)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def local_fetch_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for fetching from the local test server: its address allowed, no politeness
    delay, no retries, two extraction workers, warehouse and spool under ``tmp_path``."""
    values: dict[str, object] = {
        "db": tmp_path / "news.duckdb",
        "spool": str(tmp_path / "spool"),
        "allow_private": "127.0.0.1",
        "per_host_delay": 0,
        "http_retries": 0,
        "workers": 2,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def db_rows(where: Settings | Path, sql: str) -> list[tuple[Any, ...]]:
    """``sql``'s rows from a warehouse file (``where``, or that of the settings ``where``), on
    a read-only connection."""
    db = where.db if isinstance(where, Settings) else where
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def newsflow_env(
    base: Mapping[str, str], db: Path, spool: str | Path, **values: str
) -> dict[str, str]:
    """A ``newsflow`` command's environment: ``base`` without its NEWSFLOW_* values, the
    warehouse and spool given, loopback sites allowed with no politeness delay and no
    retries, two workers, wide output; ``values``: more, or other, variables."""
    env = {k: v for k, v in base.items() if not k.startswith("NEWSFLOW_")}
    env.update(
        NEWSFLOW_DB=str(db),
        NEWSFLOW_SPOOL=str(spool),
        NEWSFLOW_LOCK_WAIT="120",
        NEWSFLOW_ALLOW_PRIVATE="127.0.0.1",
        NEWSFLOW_PER_HOST_DELAY="0",
        NEWSFLOW_HTTP_RETRIES="0",
        NEWSFLOW_WORKERS="2",
        COLUMNS="200",
    )
    env.update(values)
    return env

"""Deployments and ``newsflow serve`` without a server: what is built, and the advice given."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from newsflow.deploy.serve import ServeOptions, build_deployments, feed_groups, seed_trigger
from newsflow.flows.seed_events import is_seed_file
from tests.conftest import ROOT


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSFLOW_"))}
    env.update(PYTHONPATH=str(ROOT), PREFECT_HOME=str(tmp_path / "home"), **extra)
    return env


def test_serve_without_a_server_says_what_to_do(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "newsflow", "serve", "--seeds", str(tmp_path)]
    # without PREFECT_API_URL serve uses the local server; the per-command fallback cannot serve
    fallback = _env(tmp_path, NEWSFLOW_PREFECT_SERVER="temporary")
    unset = subprocess.run(cmd, env=fallback, capture_output=True, text=True, timeout=120)
    assert unset.returncode == 2
    assert "prefect server start" in unset.stderr and "PREFECT_API_URL" in unset.stderr
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = _env(tmp_path, PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
    down = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 1
    assert "no Prefect server answers" in down.stderr and "prefect server start" in down.stderr


def test_deployments_and_their_policies(tmp_path: Path) -> None:
    options = ServeOptions(tmp_path / "seeds", tmp_path / "feeds.toml", debounce_seconds=7)
    by_name = {d.name: d for d in build_deployments(options)}
    assert set(by_name) == {"seed-files", "backfill", "loader", "maintenance"}
    loader = by_name["loader"]
    assert loader.concurrency_limit == 1
    assert loader.schedules and loader.schedules[0].schedule.interval == timedelta(minutes=10)
    assert not by_name["backfill"].schedules and not by_name["backfill"].triggers
    assert all(d.entrypoint and ":" not in d.entrypoint for d in by_name.values())
    (trigger,) = by_name["seed-files"].triggers
    assert trigger.expect == {"newsflow.seed.created"}
    assert trigger.within == timedelta(seconds=7) and trigger.schedule_after == trigger.within
    assert trigger.parameters and trigger.parameters["folder"] == str(options.seed_dir.resolve())


def test_seed_trigger_templates_the_event() -> None:
    trigger = seed_trigger(Path("/data/inbox"), 3)
    assert trigger.parameters == {
        "paths": ["{{ event.payload.path }}"],
        "folder": "/data/inbox",
        "since": "{{ event.payload.occurred }}",
        "window_seconds": 3,
    }
    assert trigger.match.model_dump() == {"newsflow.seed.folder": "/data/inbox"}


def test_feed_groups_by_first_tag(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(
        """
[[feeds]]
name = "A"
url = "https://a.example.com/rss"
tags = ["world", "en"]
poll_minutes = 15

[[feeds]]
url = "https://b.example.com/atom"
tags = ["world"]
poll_minutes = 45

[[feeds]]
url = "https://c.example.com/feed"
tags = ["en"]
poll_minutes = 1

[[feeds]]
url = "https://d.example.com/feed"
"""
    )
    groups = {g.name: g for g in feed_groups(feeds)}
    assert set(groups) == {"en", "untagged", "world"}
    # Each feed in one group only: A is polled by "world", not also by "en".
    assert groups["world"].urls == ["https://a.example.com/rss", "https://b.example.com/atom"]
    assert groups["en"].urls == ["https://c.example.com/feed"]
    assert groups["untagged"].urls == ["https://d.example.com/feed"]
    # A group polls as often as its most eager feed asks, never more than every 5 minutes.
    assert (groups["world"].minutes, groups["en"].minutes) == (15, 5)
    assert groups["untagged"].minutes == 30
    assert feed_groups(tmp_path / "missing.toml") == []


def test_which_files_are_seed_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    names = ["a.txt", "sub/b", ".hidden.txt", "feeds.toml", "x.txt.part", "notes.md", "c.txt~"]
    for name in names:
        (tmp_path / name).write_text("x")
    seeds = sorted(n for n in names if is_seed_file(tmp_path / n, tmp_path))
    assert seeds == ["a.txt", "sub/b"]
    assert not is_seed_file(tmp_path.parent / "elsewhere.txt", tmp_path)

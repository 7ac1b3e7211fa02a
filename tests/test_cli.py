"""The command line as users run it: real processes, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsflow.settings import Settings

from .conftest import SEED
from .helpers import hold_reader, make_seed_files

ROOT = Path(__file__).resolve().parent.parent
NEWSFLOW = [sys.executable, "-m", "newsflow.cli"]


@pytest.fixture
def api_env(prefect_harness: None, settings: Settings) -> dict[str, str]:
    """Environment for a CLI process that reports to the session's Prefect server."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.update(
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
        NEWSFLOW_DB=str(settings.db),
        NEWSFLOW_SPOOL=settings.spool,
        NEWSFLOW_LOCK_WAIT="60",
        COLUMNS="200",
    )
    return env


def run(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NEWSFLOW, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_help_explains_every_command() -> None:
    out = subprocess.run([*NEWSFLOW, "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    for command in ("ingest-seeds", "sql", "status"):
        assert command in out.stdout


def test_usage_errors_exit_2(api_env: dict[str, str], tmp_path: Path) -> None:
    assert run(["ingest-seeds", str(tmp_path / "nope")], api_env).returncode == 2
    assert run(["no-such-command"], api_env).returncode == 2


def test_ingest_then_query_then_status(api_env: dict[str, str], tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / SEED.name).write_bytes(SEED.read_bytes())
    (seeds / "broken.txt").write_bytes(b"\x00\x01binary")
    out = run(["ingest-seeds", str(seeds)], api_env)
    assert out.returncode == 0, out.stderr
    assert "new articles loaded" in out.stdout and "Traceback" not in out.stderr
    out = run(["sql", "SELECT domain, language FROM articles", "--csv"], api_env)
    assert out.returncode == 0 and out.stdout.splitlines() == ["domain,language", "sott.net,en"]
    out = run(["sql", "DELETE FROM articles"], api_env)  # read-only
    assert out.returncode == 2 and "read-only" in out.stderr.lower()
    out = run(["sql", "SELECT nope FROM articles"], api_env)
    assert out.returncode == 1 and "hint" in out.stderr
    out = run(["status"], api_env)
    assert out.returncode == 0
    assert "binary" in out.stdout and "batches waiting" in out.stdout


def test_ingest_waits_for_an_open_reader_then_lands_every_row(
    api_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    make_seed_files(tmp_path / "first", 5)
    assert run(["ingest-seeds", str(tmp_path / "first")], api_env).returncode == 0
    make_seed_files(tmp_path / "second", 60, seed=99)
    for p in (tmp_path / "second").iterdir():  # distinct URLs from the first run
        p.write_text(p.read_text().replace("/story-", "/other-"))
    release = tmp_path / "release"
    reader = hold_reader(settings.db, release)
    ingest = subprocess.Popen(
        [*NEWSFLOW, "ingest-seeds", str(tmp_path / "second")],
        env=api_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert ingest.stdout is not None
    said = ""
    try:
        for line in ingest.stdout:  # the loader says why it waits, then the reader closes
            said += line
            if f"locked by PID {reader.pid}" in line:
                release.touch()
                break
    finally:
        release.touch()
        reader.wait()
    said += ingest.stdout.read()
    assert ingest.wait(timeout=300) == 0, said
    assert f"locked by PID {reader.pid}" in said
    out = run(["sql", "SELECT count(*) FROM articles", "--csv"], api_env)
    assert out.stdout.splitlines()[1] == "65"


def test_lock_held_too_long_exits_1_naming_it(
    api_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    make_seed_files(tmp_path / "s", 3)
    assert run(["ingest-seeds", str(tmp_path / "s")], api_env).returncode == 0
    release = tmp_path / "release"
    reader = hold_reader(settings.db, release)
    make_seed_files(tmp_path / "t", 3, seed=5)
    for p in (tmp_path / "t").iterdir():
        p.write_text(p.read_text().replace("/story-", "/late-"))
    try:
        out = run(["ingest-seeds", str(tmp_path / "t")], {**api_env, "NEWSFLOW_LOCK_WAIT": "1"})
    finally:
        release.touch()
        reader.wait()
    assert out.returncode == 1
    assert f"PID {reader.pid}" in out.stderr and "NEWSFLOW_LOCK_WAIT" in out.stderr
    out = run(["status"], api_env)
    assert "1 batches waiting" in out.stdout
    assert run(["ingest-seeds", str(tmp_path / "s")], api_env).returncode == 0
    out = run(["sql", "SELECT count(*) FROM articles", "--csv"], api_env)
    assert out.stdout.splitlines()[1] == "6"


@pytest.mark.slow
def test_temporary_server_run_is_clean(tmp_path: Path) -> None:
    """Without PREFECT_API_URL, in the temporary-server fallback, the CLI starts and stops its
    own server, printing no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSFLOW_", "PREFECT_"))}
    env.update(
        NEWSFLOW_PREFECT_SERVER="temporary",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        NEWSFLOW_DB=str(tmp_path / "w.duckdb"),
        NEWSFLOW_SPOOL=str(tmp_path / "spool"),
    )
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / SEED.name).write_bytes(SEED.read_bytes())
    out = run(["ingest-seeds", str(seeds)], env)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert "CancelledError" not in out.stdout + out.stderr
    assert "new articles loaded" in out.stdout

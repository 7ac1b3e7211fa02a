"""Shared fixtures: one Prefect test harness for the session, a settings object per test
pointing at a temporary warehouse and spool."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from glob import glob
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from newsflow.settings import Settings

if TYPE_CHECKING:
    from tests.analyst_fixture import FixtureWarehouse

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_fcba646dac09ab2d.txt"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A real temporary Prefect server with its own database, shared by every flow test."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        db=tmp_path / "news.duckdb",
        spool=str(tmp_path / "spool"),
        lock_wait=30,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / SEED.name).write_bytes(SEED.read_bytes())
    return folder


@pytest.fixture(scope="session")
def analyst_warehouse(tmp_path_factory: pytest.TempPathFactory) -> FixtureWarehouse:
    """The analysts' fixture warehouse and its published copy (tests/analyst_fixture.py);
    shared by the session, so tests only read it."""
    from tests.analyst_fixture import build

    return build(tmp_path_factory.mktemp("analyst"))


# ---------------------------------------------------------------- PostgreSQL catalog


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def postgres() -> Iterator[str]:
    """A real PostgreSQL server from Debian's packages in a temporary cluster; yields a libpq
    connection string. initdb refuses to run as root, so as root it runs as `postgres`."""
    pytest.importorskip("duckdb_extension_postgres_scanner", reason="postgres_scanner missing")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries absent: apt-get install -y postgresql")
    user: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server")
        user = "postgres"
    root = Path(tempfile.mkdtemp(prefix="newsflow-pg-"))
    data = root / "data"
    if user:
        shutil.chown(root, user)
    run = ["runuser", "-u", user, "--"] if user else []
    port = _free_port()
    subprocess.run(
        [*run, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "log"),
            "-w",
            "-t",
            "120",
            "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"dbname=postgres host=127.0.0.1 port={port} user=postgres"
    finally:
        subprocess.run(
            [*run, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)

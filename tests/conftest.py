"""Shared fixtures: one Prefect test harness for the session, a settings object per test
pointing at a temporary warehouse and spool."""

from __future__ import annotations

import os
from collections.abc import Iterator
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

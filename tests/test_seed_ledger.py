"""The seed-file ledger and serve's folder scan: a real warehouse, real spool batches, real
flow runs; the end-to-end case (a file dropped while serve is down) is in
test_serve_scan_e2e.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from newsflow.deploy.seedscan import SeedScanner
from newsflow.settings import Settings
from newsflow.tasks import seedledger
from tests.helpers import db_rows

ARTICLE = "{title}\n20240301\nhttps://{host}.example.com/a\nA paragraph about {title} in town.\n"


def _ingest(settings: Settings, paths: list[Path], run_id: str) -> None:
    """What one ingest-seeds batch does with article files: read with the ledger, process,
    spool (the ledger rows in the same batch), load."""
    from newsflow.tasks.process import process_candidates
    from newsflow.tasks.spool import write_batch
    from newsflow.warehouse.loader import load_spool

    candidates, rejects, ledger = seedledger.read_with_ledger(paths, run_id)
    batch = process_candidates(candidates, run_id)
    batch.rejects.extend(rejects)
    write_batch(batch, settings.spool, extra={seedledger.TABLE: ledger})
    load_spool(settings.db, settings.spool, lock_wait=30)


def _write(path: Path, title: str, host: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ARTICLE.format(title=title, host=host))
    return path


def test_fingerprint_is_the_files_sha256(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.txt", "Harbour", "one")
    found = seedledger.fingerprint(path)
    assert found is not None
    assert found.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (found.path, found.size) == (str(path.resolve()), path.stat().st_size)
    assert seedledger.fingerprint(tmp_path / "missing.txt") is None
    assert seedledger.fingerprint(tmp_path) is None  # a folder is no seed file


def test_scan_finds_what_the_ledger_lacks_once(settings: Settings, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    a = _write(inbox / "a.txt", "Harbour", "one")
    b = _write(inbox / "sub" / "b.txt", "Rail", "two")
    bad = inbox / "bad.bin"
    bad.write_bytes(b"\x00\x01binary" * 10)
    (inbox / "notes.md").write_text("not a seed")
    (inbox / ".c.txt.tmp").write_text("a partial write")
    # A file just written is left to the watcher's event for ``settle`` seconds.
    assert SeedScanner(inbox, settings.db, grace=60, settle=600).due() == []
    scanner = SeedScanner(inbox, settings.db, grace=60)
    # No warehouse yet: every seed file is due, configuration and hidden files never.
    assert scanner.due() == [a, bad, b]

    _ingest(settings, [a, bad], "run-1")
    assert scanner.due() == [b]
    ledger = db_rows(settings, "SELECT path, items, run_id FROM seed_files ORDER BY path")
    assert ledger == [(str(a), 1, "run-1"), (str(bad), 0, "run-1")]
    assert db_rows(settings, "SELECT source, reason FROM rejects") == [(str(bad), "binary")]

    # The same files again (an event and a scan both saw them): one ledger row each, and the
    # first run that read them keeps it.
    _ingest(settings, [a, b], "run-2")
    assert scanner.due() == []
    assert db_rows(settings, "SELECT count(*), count(DISTINCT path) FROM seed_files") == [(3, 3)]
    assert db_rows(settings, f"SELECT run_id FROM seed_files WHERE path = '{a}'") == [("run-1",)]
    assert db_rows(settings, "SELECT count(*) FROM articles") == [(2,)]

    # Rewritten with other content: a new file to the ledger, due again.
    _write(a, "Harbour cranes", "one")
    assert scanner.due() == [a]
    # Asked for a moment ago: left to that run for ``grace`` seconds, then asked again.
    scanner.announced(a, now=1000.0)
    assert scanner.due(now=1030.0) == []
    assert scanner.due(now=1061.0) == [a]
    _ingest(settings, [a], "run-3")
    assert scanner.due() == []
    assert db_rows(settings, f"SELECT count(*) FROM seed_files WHERE path = '{a}'") == [(2,)]


def test_scan_reads_only_changed_files(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsflow.deploy import seedscan

    inbox = tmp_path / "inbox"
    paths = [_write(inbox / f"{n}.txt", f"Story {n}", f"h{n}") for n in range(3)]
    hashed: list[Path] = []

    def counting(path: Path, max_bytes: int) -> seedledger.SeedPrint | None:
        hashed.append(path)
        return seedledger.fingerprint(path, max_bytes)

    monkeypatch.setattr(seedscan, "fingerprint", counting)
    scanner = SeedScanner(inbox, settings.db, grace=60)
    assert scanner.due() == paths
    assert scanner.due() == paths
    assert hashed == paths  # the second scan hashed nothing
    _write(paths[1], "Story one, longer now", "h1")
    scanner.due()
    assert hashed == [*paths, paths[1]]


@pytest.mark.usefixtures("prefect_harness")
def test_seed_batch_runs_skip_files_in_the_ledger(settings: Settings, tmp_path: Path) -> None:
    """The seed-files deployment's flow, given the same files twice (an event and a scan),
    reads them once; ``ingest-seeds`` itself records every file it reads."""
    from newsflow.flows.seed_events import ingest_seed_batch
    from newsflow.flows.seeds import ingest_seeds

    inbox = tmp_path / "inbox"
    a = _write(inbox / "a.txt", "Harbour", "one")
    b = _write(inbox / "b.txt", "Rail", "two")
    first = ingest_seed_batch(paths=[str(a), str(b)], settings=settings)
    assert first["items"] == 2 and first["load"]["loaded"] == 2
    again = ingest_seed_batch(paths=[str(b), str(a)], settings=settings)
    assert again == {"items": 0}
    assert db_rows(settings, "SELECT flow, items FROM runs") == [("ingest-seeds", 2)]
    assert db_rows(settings, "SELECT count(*) FROM seed_files") == [(2,)]

    c = _write(inbox / "c.txt", "Bridge", "three")
    ingest_seeds(paths=[str(inbox)], settings=settings)  # the command reads what it is given
    assert db_rows(settings, "SELECT path, items FROM seed_files ORDER BY path") == [
        (str(a), 1),
        (str(b), 1),
        (str(c), 1),
    ]
    assert ingest_seed_batch(paths=[str(c)], settings=settings) == {"items": 0}

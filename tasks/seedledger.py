"""The seed-file ledger's rows: which file (path, size, content hash) a run read.

``read_with_ledger`` reads seed files as ``seeds.read_seed_files`` does and also returns one
ledger row per regular file; the row travels in the spool batch with the file's articles and
the loader records it in the same transaction (``warehouse/seedfiles.py``). Each file is
fingerprinted *before* it is parsed: if it is rewritten in between, the ledger holds the old
content's hash and the new content is simply read again later, never skipped.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from newsflow.tasks import seeds
from newsflow.tasks.contract import Table, to_arrow
from newsflow.tasks.records import Candidate, RejectRow, SeedFileRow, SeedPrint

TABLE = Table.SEED_FILES
_CHUNK = 1 << 20


def fingerprint(path: Path, max_bytes: int = seeds.DEFAULT_MAX_BYTES) -> SeedPrint | None:
    """The file's absolute path, size and SHA-256; None for anything that is not a readable
    regular file (a FIFO is never opened for reading: ``O_NONBLOCK``, then ``fstat``). A file
    over ``max_bytes`` is never read: reading it gives a ``too_large`` reject, so its print is
    its size and modification time, enough to reject it once, not at every scan."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        if info.st_size > max_bytes:
            return SeedPrint(str(path.resolve()), info.st_size, f"stat:{info.st_mtime_ns}")
        digest = hashlib.sha256()
        size = 0
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
            size += len(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return SeedPrint(str(path.resolve()), size, digest.hexdigest())


def read_with_ledger(
    paths: Iterable[Path],
    run_id: str,
    *,
    now: datetime | None = None,
    max_bytes: int = seeds.DEFAULT_MAX_BYTES,
) -> tuple[list[Candidate], list[RejectRow], pa.Table]:
    """Candidates and rejects of the files (``seeds.read_seed_files``), and the ledger rows
    of those that are regular files: how many items each gave (0: rejected)."""
    now = now or datetime.now(UTC)
    candidates: list[Candidate] = []
    rejects: list[RejectRow] = []
    rows: list[tuple[SeedPrint, int]] = []
    for path in paths:
        found = fingerprint(path, max_bytes)
        got, refused = seeds.read_seed_files([path], run_id, now=now, max_bytes=max_bytes)
        candidates += got
        rejects += refused
        if found is not None:
            rows.append((found, len(got)))
    return candidates, rejects, ledger_table(rows, run_id, now)


def ledger_table(rows: list[tuple[SeedPrint, int]], run_id: str, now: datetime) -> pa.Table:
    return to_arrow(
        TABLE, [SeedFileRow(p.path, p.size, p.content_hash, n, run_id, now) for p, n in rows]
    )

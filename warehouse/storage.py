"""Where the warehouse is, decided in one place from ``--db`` / ``NEWSFLOW_DB`` / ``--to``:
the one reader of how a warehouse is named, for every command.

- ``warehouse/news.duckdb`` (any path not ending in ``.ducklake``): the single DuckDB file,
  with its published copy for readers (``warehouse/publish.py``);
- ``warehouse/news.ducklake``: a DuckLake on this machine; that path is its SQLite catalog
  (in WAL mode), its data files (zstd Parquet) are in ``warehouse/news.ducklake.files/``;
- ``ducklake:postgres:<libpq key=value string>``: a DuckLake whose catalog is a PostgreSQL
  database, shared by loaders and readers on many machines; its data path (a folder or an
  fsspec URL) is ``NEWSFLOW_LAKE_DATA``, recorded in the catalog when the lake is created.

An existing lake's data path is the one its catalog records unless ``NEWSFLOW_LAKE_DATA`` says
otherwise. Nothing else starting ``ducklake:`` names a warehouse (a SQLite catalog is named by
its own path, so the spool's guard and Prefect's home know its folder).

A lake needs no published copy: readers attach it and read the last committed snapshot while
loads commit (warehouse/STORAGE.md). Light to import: DuckDB loads only with a connection.
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from newsflow.warehouse.lake import Lake

# How a lake is named: PATH.ducklake is a SQLite catalog, a new one's data files go in
# PATH.ducklake.files/; ducklake:postgres:<libpq> is a PostgreSQL catalog.
SUFFIX = ".ducklake"
DATA_SUFFIX = ".files"
PREFIX = "ducklake:"
POSTGRES = f"{PREFIX}postgres:"
SQLITE_MAGIC = b"SQLite format 3\x00"

Kind = Literal["file", "sqlite", "postgres"]


def kind_of(db: Path | str) -> Kind:
    """What ``db`` names; ``problem`` says when it names nothing usable (``ducklake:mysql:``)."""
    text = str(db)
    if text.startswith(POSTGRES):
        return "postgres"
    if text.endswith(SUFFIX) and not text.startswith(PREFIX):
        return "sqlite"
    return "file"


def is_lake(db: Path | str) -> bool:
    return kind_of(db) != "file"


@dataclass(frozen=True)
class Location:
    """The warehouse named by ``db``: its kind and, for a lake, its catalog and data path
    (``""``: the one recorded in the catalog)."""

    db: Path
    kind: Kind
    data_path: str = ""

    @property
    def is_lake(self) -> bool:
        return self.kind != "file"

    @property
    def catalog(self) -> str:
        """The lake's catalog as DuckLake names it (``sqlite:<absolute path>``,
        ``postgres:<libpq>``)."""
        if self.kind == "postgres":
            return "postgres:" + str(self.db).removeprefix(POSTGRES)
        return f"sqlite:{self.db.expanduser().resolve()}"

    def lake(self) -> Lake:
        """The lake, with its data path: ``NEWSFLOW_LAKE_DATA``'s, else for an existing SQLite
        catalog the one it records (``""`` where that cannot be read here: DuckLake reads it)."""
        from newsflow.warehouse.lake import Lake

        data = self.data_path
        if not data and self.kind == "sqlite":
            data = recorded_data_path(self.db)
        return Lake(self.catalog, data)

    def exists(self) -> bool:
        """Whether there is a warehouse here yet (for PostgreSQL: a lake in that database)."""
        if self.kind != "postgres":
            return self.db.is_file()
        from newsflow.warehouse.lake import LakeError, lake_exists

        try:
            return lake_exists(self.lake())
        except LakeError:
            return False


def locate(db: Path | str, lake_data: str | None = None) -> Location:
    """The warehouse ``db`` names. ``lake_data`` (``NEWSFLOW_LAKE_DATA``): a lake's data path;
    without it an existing lake's is the one its catalog records, and a new local lake keeps
    its files beside its catalog (``<path>.files/``)."""
    kind = kind_of(db)
    path = Path(db)
    if kind == "file":
        return Location(path, kind)
    data = data_folder(lake_data or "")
    if kind == "sqlite" and not data and not path.is_file():  # a new lake's files: beside it
        data = data_folder(f"{path}{DATA_SUFFIX}")
    return Location(path, kind, data)


def data_folder(data: str) -> str:
    """A data path as DuckLake stores it: a local folder made absolute, ending in ``/``
    (``""`` stays ``""``: the catalog's own)."""
    data = data.strip()
    if not data:
        return ""
    if "://" not in data:
        data = str(Path(data).expanduser().resolve())
    return data if data.endswith("/") else f"{data}/"


def recorded_data_path(catalog: Path) -> str:
    """The data path a SQLite catalog records, read with SQLite itself (no DuckDB), or ``""``
    when it records none that can be read here."""
    uri = f"{catalog.expanduser().resolve().as_uri()}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as db:
            row = db.execute(
                "SELECT value FROM ducklake_metadata WHERE key = 'data_path' AND scope IS NULL"
            ).fetchone()
    except sqlite3.Error:
        return ""
    return str(row[0]) if row and row[0] else ""


KEYS_SUFFIX = ".keys"


def keys_path(catalog: str) -> Path:
    """Where this machine keeps a lake's key index (``warehouse/keys.py``), from the catalog
    as DuckLake names it: beside a SQLite catalog (``news.ducklake.keys``); for a PostgreSQL
    catalog, in this user's cache folder, one file per catalog. Deleting it is always safe:
    the next load rebuilds it from the lake."""
    kind, _, where = catalog.partition(":")
    if kind == "sqlite":
        return Path(f"{where}{KEYS_SUFFIX}")
    digest = hashlib.blake2b(catalog.encode(), digest_size=8).hexdigest()
    return Path.home() / ".cache" / "newsflow" / "lake-keys" / f"{digest}{KEYS_SUFFIX}"


def exists(db: Path | str) -> bool:
    return locate(db).exists()


def folder(db: Path | str) -> Path:
    """The folder things kept beside the warehouse go in (Prefect's home, say): the file's or
    the catalog's; for a PostgreSQL catalog, the working folder."""
    return Path(".") if kind_of(db) == "postgres" else Path(db).parent


def absolute(db: Path | str) -> Path:
    """``db`` for another process (which may start elsewhere): paths made absolute; a
    PostgreSQL catalog's connection string as it is."""
    return Path(db) if kind_of(db) == "postgres" else Path(db).expanduser().resolve()


def problem(db: Path | str, lake_data: str | None) -> str | None:
    """Why ``db`` (with ``lake_data``) cannot name a warehouse, in one line, or None."""
    text = str(db)
    kind = kind_of(db)
    if kind == "file" and text.startswith(PREFIX):
        rest = text.removeprefix(f"{PREFIX}sqlite:")
        if rest != text and rest.endswith(SUFFIX):
            return f"{text}: name a lake on this machine by its catalog's path alone: {rest}"
        return (
            f"{text} is no warehouse: give PATH{SUFFIX} (a lake on this machine, its data in "
            f"PATH{SUFFIX}{DATA_SUFFIX}/) or {POSTGRES}<libpq connection string>"
        )
    if kind == "sqlite" and Path(db).is_dir():
        return (
            f"--db {db} is a folder: a lake is named by its catalog file, e.g. "
            f"{Path(db) / 'news'}{SUFFIX}"
        )
    if kind == "postgres":
        if not text.removeprefix(POSTGRES).strip():
            return (
                f"{db}: give the PostgreSQL connection string after {POSTGRES}, e.g. "
                f"{POSTGRES}dbname=newsflow host=db.example user=newsflow"
            )
        if not (lake_data or "").strip():
            return (
                "a PostgreSQL catalog needs its data path: set NEWSFLOW_LAKE_DATA to a folder "
                "every loader and reader sees, or an object store URL (s3://bucket/newsflow/)"
            )
    return None


def sqlite_catalog_problem(path: Path) -> str | None:
    """Why an existing ``.ducklake`` path is not a lake's SQLite catalog, or None."""
    try:
        with path.open("rb") as handle:
            header = handle.read(16)
    except OSError as exc:
        return f"--db {path} cannot be read: {exc.strerror}"
    if header and header != SQLITE_MAGIC:
        return (
            f"--db {path} is not a DuckLake catalog (a SQLite file): give the lake's "
            "catalog, or a new path to start one"
        )
    return None


def attach_line(db: Path) -> str:
    """The statement an analyst types in their own DuckDB to open the lake ``db`` read-only,
    with the data path its catalog records."""
    from newsflow.warehouse.db import connect_reader
    from newsflow.warehouse.lake import data_path_of

    where = locate(db)
    con = connect_reader(db)
    try:
        data = data_path_of(con)
    finally:
        con.close()
    if where.kind == "sqlite":
        where = Location(where.db.expanduser().resolve(), "sqlite")
    return Location(where.db, where.kind, data).lake().attach_sql(read_only=True)

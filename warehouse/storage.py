"""Where the warehouse is, decided in one place from ``--db`` / ``NEWSFLOW_DB``.

- ``warehouse/news.duckdb`` (any path not ending in ``.ducklake``): the single DuckDB file,
  with its published copy for readers (``warehouse/publish.py``);
- ``warehouse/news.ducklake``: a DuckLake on this machine; that path is its SQLite catalog
  (in WAL mode), its data files (zstd Parquet) are in ``warehouse/news.ducklake.files/``;
- ``ducklake:postgres:<libpq key=value string>``: a DuckLake whose catalog is a PostgreSQL
  database, shared by loaders and readers on many machines; its data path (a folder or an
  fsspec URL) is ``NEWSFLOW_LAKE_DATA``, recorded in the catalog when the lake is created.

A lake needs no published copy: readers attach it and read the last committed snapshot while
loads commit (warehouse/STORAGE.md). Light to import: DuckDB loads only with a connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from newsflow.settings import LAKE_SUFFIX
from newsflow.settings import POSTGRES_LAKE as POSTGRES

if TYPE_CHECKING:
    from newsflow.warehouse.lake import Lake
_SQLITE_MAGIC = b"SQLite format 3\x00"

Kind = Literal["file", "sqlite", "postgres"]


def kind_of(db: Path | str) -> Kind:
    text = str(db)
    if text.startswith(POSTGRES):
        return "postgres"
    if text.endswith(LAKE_SUFFIX):
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
        """The lake's catalog as DuckLake names it (``sqlite:<path>``, ``postgres:<libpq>``)."""
        if self.kind == "postgres":
            return "postgres:" + str(self.db).removeprefix(POSTGRES)
        return f"sqlite:{self.db}"

    def lake(self) -> Lake:
        from newsflow.warehouse.lake import Lake

        return Lake(self.catalog, self.data_path)

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
    data = (lake_data or "").strip()
    if data and "://" not in data:
        data = str(Path(data).expanduser().resolve())
    if kind == "sqlite" and not data and not path.is_file():  # a new lake's files: beside it
        data = str(path.expanduser().resolve()) + ".files"
    if data and not data.endswith("/"):
        data += "/"
    return Location(path, kind, data)


def exists(db: Path | str) -> bool:
    return locate(db).exists()


def folder(db: Path | str) -> Path:
    """The folder things kept beside the warehouse go in (Prefect's home, say): the file's or
    the catalog's; for a PostgreSQL catalog, the working folder."""
    return Path(".") if kind_of(db) == "postgres" else Path(db).parent


def absolute(db: Path | str) -> Path:
    """``db`` for another process (which may start elsewhere): paths made absolute; a
    PostgreSQL catalog's connection string as it is."""
    return Path(db) if kind_of(db) == "postgres" else Path(db).resolve()


def problem(db: Path | str, lake_data: str | None) -> str | None:
    """Why ``db`` (with ``lake_data``) cannot name a warehouse, in one line, or None."""
    kind = kind_of(db)
    if kind == "postgres":
        if not str(db).removeprefix(POSTGRES).strip():
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
    if header and header != _SQLITE_MAGIC:
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

"""``newsflow upgrade`` and ``newsflow maintain``: the warehouse as a DuckLake (STORAGE.md).

``upgrade`` copies a single-file warehouse into a new lake (``lake_upgrade.migrate_from_file``: one
transaction, every table, article ids checked both ways; the old file is only read).
``maintain`` runs the lake's maintenance (``lake_maintenance.maintain_warehouse``) and says
what each step did; the ``maintenance`` deployment runs the same step on its schedule.

A lake is named as everywhere a warehouse is: ``PATH.ducklake`` (a SQLite catalog, its data
files in ``PATH.files/``) or ``ducklake:postgres:<libpq>`` with its data path (``--data`` or
``NEWSFLOW_LAKE_DATA``); ``warehouse/storage.py`` reads both, for every command.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from newsflow.cli.common import DbOption, console, fail, operator_error, print_rows
from newsflow.settings import Settings

if TYPE_CHECKING:
    from newsflow.warehouse.lake import Lake
    from newsflow.warehouse.lake_maintenance import Maintenance

DataOption = Annotated[
    str | None,
    typer.Option(
        "--data",
        help="Data path of a PostgreSQL-catalog lake: a shared folder or s3://bucket/path/ "
        "(env NEWSFLOW_LAKE_DATA). A PATH.ducklake lake keeps its data in PATH.files/.",
    ),
]


def _settings(db: Path | None) -> Settings:
    return Settings(db=db) if db is not None else Settings()


def _open(lake: Lake) -> Any:
    """A connection to the lake, or an operator error saying why there is none."""
    from newsflow.warehouse import lake as lakemod

    try:
        return lakemod.open_lake(lake, must_exist=False)
    except lakemod.LakeError as exc:
        raise operator_error(str(exc)) from exc


def _lake(text: str | Path, data: str | None) -> Lake:
    from newsflow.warehouse.lake import Lake, LakeError

    try:
        return Lake.from_target(text, data)
    except LakeError as exc:
        raise operator_error(str(exc)) from exc


_BUSY_WAIT = 2.0  # seconds a busy source file is waited for


def _bring_up_to_date(source: Path) -> None:
    """A file written by an older newsflow gets this version's migrations first, as any
    command's first load would give it, so its tables have the lake's columns. A file held by
    a running load is refused at once, as the copy itself refuses it."""
    import duckdb

    from newsflow.warehouse import db as dbmod

    try:
        con = dbmod.connect_reader(source, wait=_BUSY_WAIT)
        try:
            row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
        finally:
            con.close()
        have = int(row[0]) if row and row[0] is not None else 0
        latest = dbmod.migrations()[-1][0]
        if have >= latest:
            return
        console.print(
            f"{source} is at migration {have}; applying this version's migrations up to "
            f"{latest} first",
            markup=False,
            soft_wrap=True,
        )
        dbmod.connect_writer(source, _BUSY_WAIT).close()
    except dbmod.WarehouseLocked as exc:
        raise operator_error(
            f"{source} is held by a running load or session ({exc.holder}): wait for it to "
            "end, or stop the loader, then run the upgrade again"
        ) from exc
    except duckdb.CatalogException:  # no schema_migrations: not a warehouse; check_source says
        return


def upgrade(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="The new lake: NEW.ducklake (SQLite catalog, data in NEW.ducklake.files/) "
            "or ducklake:postgres:<libpq> with --data.",
        ),
    ],
    db: DbOption = None,
    data: DataOption = None,
) -> None:
    """Copy a single-file warehouse (--db) into a new DuckLake warehouse (--to), losing nothing.

    Every table is copied in one transaction: the lake holds the whole warehouse or, after a
    failure or a crash, nothing (run the command again). Row counts per table and the article
    ids both ways are checked before the commit. The old file is only read, never changed;
    keep it until you have switched. Stop the loader first: a running load holds the file.
    """
    from newsflow.warehouse import lake as lakemod
    from newsflow.warehouse import lake_upgrade

    settings = _settings(db)
    source = settings.db
    lake = _lake(to, data if data is not None else settings.lake_data)
    try:
        lake_upgrade.check_source(source)
    except lakemod.LakeError as exc:
        raise operator_error(str(exc)) from exc
    _bring_up_to_date(source)
    con = _open(lake)
    console.print(
        f"copying {source} into {lake.target} (one transaction)", markup=False, soft_wrap=True
    )

    def progress(table: str, rows: int) -> None:
        console.print(f"  copied {table}: {rows:,} rows", markup=False, highlight=False)

    started = time.monotonic()
    try:
        done = lake_upgrade.migrate_from_file(con, source, progress=progress)
    except lakemod.LakeError as exc:
        if isinstance(exc, lakemod.NotEmpty | lakemod.SourceUnusable):
            raise operator_error(str(exc)) from exc
        raise fail(f"nothing was copied: {exc}", "the lake is unchanged; run again") from exc
    finally:
        con.close()
    if done.orphans_removed:
        console.print(f"removed {done.orphans_removed} files an earlier, stopped copy had left")
    seconds = time.monotonic() - started
    print_rows(f"rows copied in {seconds:.1f} s", ["table", "rows"], sorted(done.rows.items()))
    console.print(
        f"articles verified both ways: {done.articles_verified:,} in both, none missing, "
        "none extra",
        highlight=False,
    )
    console.print(f"the old warehouse is kept as it is: {source}", markup=False, soft_wrap=True)
    switch = f"NEWSFLOW_DB={lake.target}"
    if lake.kind == "postgres":
        switch = f"NEWSFLOW_DB='{lake.target}' NEWSFLOW_LAKE_DATA={lake.data_path}"
    console.print(f"switch: {switch}", markup=False, highlight=False, soft_wrap=True)
    extensions = "INSTALL ducklake; INSTALL " + ("sqlite" if lake.kind == "sqlite" else "postgres")
    console.print(
        f"analysts ({extensions}; once): {lake.attach_sql(read_only=True)};",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def maintain(
    db: DbOption = None,
    data: DataOption = None,
    keep_days: Annotated[
        int | None,
        typer.Option(
            "--keep-days",
            min=0,
            help="Days of snapshots kept (time travel reaches back that far; env "
            "NEWSFLOW_SNAPSHOT_DAYS, default 30).",
        ),
    ] = None,
) -> None:
    """Maintain a DuckLake warehouse: fold the loads' sentence counts into text_units, merge
    the search index's segments, flush inlined rows to files, merge small files, expire old
    snapshots, delete the files no snapshot needs. Prints what each step did.

    Runs beside the loader and open reader sessions. A single-file warehouse has nothing to
    maintain (exit 0). The `maintenance` deployment runs this step on its schedule.
    """
    from newsflow.warehouse import lake as lakemod
    from newsflow.warehouse import lake_maintenance

    settings = _settings(db)
    days = settings.snapshot_days if keep_days is None else keep_days
    try:
        report = lake_maintenance.maintain_warehouse(
            settings.db, data if data is not None else settings.lake_data, keep_days=days
        )
    except lakemod.MaintenanceStopped as exc:
        raise fail(
            f"maintenance stopped: {exc}",
            "the steps done are committed; run again (a load committing meanwhile is the "
            "usual cause)",
        ) from exc
    except lakemod.NoLake as exc:
        raise operator_error(f"{exc}: give the PATH.ducklake it was made as") from exc
    except lakemod.LakeError as exc:
        raise operator_error(str(exc)) from exc
    if report is None:
        console.print(
            f"{settings.db} is a single-file warehouse: nothing to maintain (maintenance is "
            "for a lake; `newsflow upgrade` makes one)",
            markup=False,
            soft_wrap=True,
        )
        return
    print_maintenance(report)


def print_maintenance(report: Maintenance) -> None:
    console.print(
        f"lake {report.target}: snapshots kept {report.keep_days} days",
        markup=False,
        soft_wrap=True,
    )
    for line in report.lines():
        console.print(f"  {line}", markup=False, highlight=False)
    if report.idle:
        console.print("nothing to do: the lake was already maintained")


def register(app: typer.Typer) -> None:
    app.command("upgrade")(upgrade)
    app.command("maintain")(maintain)

"""Analysts' commands: full-text search, exports and the read-only published copy.

They read the published copy (``news.published.duckdb`` beside the warehouse), never the live
warehouse, so they run while ingestion runs and never block the loader. The copy is refreshed
after every load; ``--refresh`` refreshes it first (that briefly needs the writer's lock).
A warehouse on DuckLake has no copy: they read it live, as loads commit beside them.

The warehouse modules (and DuckDB) are imported inside the commands: ``newsflow --help`` and
the other commands never load them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from newsflow.cli.common import DbOption, command_settings, console, err, fail
from newsflow.settings import Settings

SinceOption = Annotated[
    datetime | None,
    typer.Option("--since", formats=["%Y-%m-%d"], help="Only articles published on or after."),
]
UntilOption = Annotated[
    datetime | None,
    typer.Option("--until", formats=["%Y-%m-%d"], help="Only articles published on or before."),
]
RefreshOption = Annotated[
    bool,
    typer.Option("--refresh", help="Publish a fresh copy of the warehouse first."),
]


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


LAKE_NEEDS_NO_COPY = (
    "{db} is a DuckLake warehouse: it needs no published copy, readers read it live "
    "(newsflow sql, search and export, or ATTACH it in your own DuckDB: newsflow published)"
)


def _publish(settings: Settings) -> Any:
    from newsflow.warehouse.db import WarehouseLocked
    from newsflow.warehouse.publish import publish

    if not settings.db.exists():
        raise fail(f"no warehouse at {settings.db}", "run `newsflow ingest-seeds` first")
    try:
        return publish(settings.db, lock_wait=settings.lock_wait)
    except WarehouseLocked as exc:
        raise fail(str(exc)) from exc


def _open_copy(settings: Settings, refresh: bool, *, sandboxed: bool = False) -> Any:
    """The published copy, read-only with fts loaded; published first if missing or asked.
    ``sandboxed``: through the analysts' sandbox (warehouse/sandbox.py)."""
    from newsflow.cli.common import warehouse_reader
    from newsflow.warehouse import sandbox, storage
    from newsflow.warehouse.publish import open_published, published_path

    if storage.is_lake(settings.db):  # read live: every commit is visible at once
        if sandboxed:
            return warehouse_reader(settings)
        from newsflow.warehouse.db import connect_reader

        try:
            return connect_reader(settings.db)
        except FileNotFoundError as exc:
            raise fail(str(exc)) from exc
    path = published_path(settings.db)
    if refresh or not path.exists():
        _publish(settings)
    return sandbox.connect(path) if sandboxed else open_published(path)


def _age(when: datetime) -> str:
    seconds = int((datetime.now(UTC) - when).total_seconds())
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _freshness(con: Any, path: Path, db: Path) -> str:
    from newsflow.warehouse import storage
    from newsflow.warehouse.publish import read_info

    if storage.is_lake(db):
        articles, unique, last = con.execute(
            "SELECT (SELECT count(*) FROM articles), "
            "(SELECT count(*) FROM articles WHERE duplicate_of IS NULL), "
            "(SELECT max(loaded_at) FROM spool_batches)"
        ).fetchone()
        when = f"last load {last:%Y-%m-%d %H:%M:%S} UTC ({_age(last)})" if last else "no load yet"
        return f"live warehouse {db}: {articles} articles ({unique} unique), {when}"
    info = read_info(con, path)
    return (
        f"published copy {path}: {info.articles} articles ({info.unique_articles} unique), "
        f"taken {info.published_at:%Y-%m-%d %H:%M:%S} UTC ({_age(info.published_at)})"
    )


def search(
    query: Annotated[
        str,
        typer.Argument(
            help='Words to look for in titles and texts: any word matches; "a phrase", '
            "a AND b, a OR b, NOT a or -a, +a (must)."
        ),
    ],
    since: SinceOption = None,
    until: UntilOption = None,
    domain: Annotated[
        str | None, typer.Option("--domain", help="Only this registered domain, e.g. bbc.co.uk.")
    ] = None,
    language: Annotated[
        str | None, typer.Option("--language", help="Only this ISO 639-1 language, e.g. en.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most results shown.")] = 20,
    duplicates: Annotated[
        bool, typer.Option("--duplicates", help="Also list copies of a story (duplicate_of set).")
    ] = False,
    refresh: RefreshOption = False,
    db: DbOption = None,
) -> None:
    """Full-text (BM25) search over titles and texts, best match first.

    Bare words: any may match, articles with more of them rank higher. "quoted phrases"
    match their words in that order; AND between two items requires both, +word requires
    it, NOT word or -word excludes it; OR is the default. Words are stemmed in each
    article's language (rates = rate, Regierungen = Regierung) and English stop words
    ignored; a match in the title counts double. Reads the published copy, so it works
    while ingestion runs.
    """
    from newsflow.warehouse import fts
    from newsflow.warehouse.publish import published_path

    settings = command_settings(db)
    con = _open_copy(settings, refresh, sandboxed=True)
    try:
        hits = fts.search(
            con,
            query,
            since=_day(since),
            until=_day(until),
            domain=domain,
            language=language,
            include_duplicates=duplicates,
            limit=limit,
        )
        freshness = _freshness(con, published_path(settings.db), settings.db)
    finally:
        con.close()
    noun = "result" if len(hits) == 1 else "results"
    console.print(f'{len(hits)} {noun} for "{query}"', markup=False, highlight=False)
    for rank, hit in enumerate(hits, start=1):
        published = hit.published_at.strftime("%Y-%m-%d") if hit.published_at else "undated"
        copy = f" · copy of {hit.duplicate_of}" if hit.duplicate_of else ""
        console.print(
            f"{rank:>3}. {hit.title or '(no title)'}  [{hit.score:.2f}]\n"
            f"     {hit.domain} · {published} · {hit.language or '?'} · {hit.url}{copy}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    err.print(freshness, markup=False, highlight=False, soft_wrap=True)


def export(
    directory: Annotated[Path, typer.Argument(help="Folder to write into (created if needed).")],
    since: SinceOption = None,
    until: UntilOption = None,
    fmt: Annotated[
        str, typer.Option("--format", help="parquet (default) or csv.", case_sensitive=False)
    ] = "parquet",
    table: Annotated[
        str,
        typer.Option(
            "--table",
            help="Public table or view to export: articles (default), articles_unique, "
            "article_sightings, article_versions, article_comments, rejects, runs, feeds, "
            "daily_counts, rejects_daily, sightings_by_feed, duplicate_clusters, "
            "article_clusters, feed_health.",
        ),
    ] = "articles",
    refresh: RefreshOption = False,
    db: DbOption = None,
) -> None:
    """Write every column of a table as files partitioned by date (DIR/date=YYYY-MM-DD/).

    For articles the date is the UTC publication date, or the ingest date when unknown (column
    undated); tables without a day of their own are one file. A re-export replaces every day
    folder of its range (days with no rows left are removed), so the folder always holds the
    warehouse's current rows. Read back with e.g. pandas.read_parquet(DIR),
    polars.read_parquet(DIR/**/*.parquet, hive_partitioning=True) or spark.read.parquet(DIR).
    """
    from newsflow.warehouse.export import (
        RELATIONS,
        ExportTargetError,
        check_target,
        export_articles,
    )
    from newsflow.warehouse.publish import published_path

    fmt = fmt.lower()
    problem = None
    if fmt not in ("parquet", "csv"):
        problem = f"--format must be parquet or csv, not {fmt!r}"
    elif table not in RELATIONS:
        problem = f"--table must be one of {', '.join(RELATIONS)}; not {table!r}"
    elif RELATIONS[table] is None and (since or until):
        problem = f"{table} has no day of its own: export it without --since/--until"
    else:
        try:
            check_target(directory)
        except ExportTargetError as exc:
            problem = str(exc)
    if problem:
        err.print(f"error: {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    settings = command_settings(db)
    con = _open_copy(settings, refresh)
    try:
        report = export_articles(
            con,
            directory,
            since=_day(since),
            until=_day(until),
            fmt=fmt,  # type: ignore[arg-type]
            table=table,
        )
        freshness = _freshness(con, published_path(settings.db), settings.db)
    finally:
        con.close()
    span = f"{report.partitions[0]} .. {report.partitions[-1]}" if report.partitions else "no dates"
    noun = "articles" if table == "articles" else f"rows of {table}"
    console.print(
        f"exported {report.rows} {noun} to {directory} as {fmt}: "
        f"{len(report.partitions)} date partitions ({span}), {report.files} files in the folder"
    )
    err.print(freshness, markup=False, highlight=False, soft_wrap=True)


def publish_command(db: DbOption = None) -> None:
    """Refresh the read-only published copy now.

    Loads do this by themselves (unless NEWSFLOW_PUBLISH=false); open readers keep the copy
    they opened until they reconnect. A warehouse on DuckLake needs none: it is read live.
    """
    from newsflow.warehouse import storage

    settings = command_settings(db)
    if storage.is_lake(settings.db):
        console.print(
            LAKE_NEEDS_NO_COPY.format(db=settings.db), markup=False, highlight=False, soft_wrap=True
        )
        return
    info = _publish(settings)
    console.print(
        f"published {info.path}: {info.articles} articles ({info.unique_articles} unique) "
        f"in {info.publish_seconds:.1f}s"
    )


def published(db: DbOption = None) -> None:
    """Where the read-only published copy is, how fresh it is, and how to open it (for a
    warehouse on DuckLake: the line that opens it live in your own DuckDB)."""
    from newsflow.warehouse import fts, storage
    from newsflow.warehouse.publish import open_published, published_path

    settings = command_settings(db)
    if storage.is_lake(settings.db):
        _lake_line(settings)
        return
    path = published_path(settings.db)
    if not path.exists():
        raise fail(f"no published copy at {path} yet", "run `newsflow publish` or an ingest")
    con = open_published(path)
    try:
        freshness = _freshness(con, path, settings.db)
    finally:
        con.close()
    ext = fts.extension_path()
    console.print(
        f"{freshness}\n"
        "open it read-only, as long as you like (reconnect to see newer loads):\n"
        f"  duckdb -readonly -cmd \"LOAD '{ext}'\" {path}\n"
        '  python -c "from pathlib import Path; from warehouse.publish import open_published; '
        f"open_published(Path('{path}')).sql('SELECT * FROM published_info').show()\"",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _lake_line(settings: Settings) -> None:
    """A lake's one-line answer to ``published``: it is read live, and how to open it."""
    from newsflow.warehouse import storage

    console.print(
        LAKE_NEEDS_NO_COPY.format(db=settings.db), markup=False, highlight=False, soft_wrap=True
    )
    where = storage.locate(settings.db)
    console.print(
        "open it read-only in your own DuckDB (with the ducklake and "
        f"{'sqlite' if where.kind == 'sqlite' else 'postgres'} extensions), as long as you "
        f"like:\n  {storage.attach_line(settings.db)};",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def search_index_command(
    compact: Annotated[
        bool,
        typer.Option(
            "--compact",
            help="Merge the index's segments now (loads merge only the smallest); "
            "takes the writer's lock.",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """How big the search index is (articles, terms, segments), and compact it on demand.

    Each load adds a segment; groups of 8 of similar size are merged, the small ones by the
    load itself. --compact does every merge due, so a term's postings sit in a few blocks:
    schedule it like any maintenance (e.g. nightly).
    """
    from newsflow.warehouse import search_index, storage
    from newsflow.warehouse.db import WarehouseLocked, connect_writer

    settings = command_settings(db)
    if not storage.exists(settings.db):
        raise fail(f"no warehouse at {settings.db}", "run `newsflow ingest-seeds` first")
    try:
        con = connect_writer(settings.db, settings.lock_wait, lake_data=settings.lake_data)
    except WarehouseLocked as exc:
        raise fail(str(exc), "a load is running; try again when it ends") from exc
    try:
        merges = 0
        if compact:
            con.execute("BEGIN")
            if storage.is_lake(settings.db):  # a load committing meanwhile: one of them fails
                from newsflow.warehouse.lake import take_load_lock

                take_load_lock(con, "search-index --compact")
            merges = search_index.compact(con)
            con.execute("COMMIT")
        docs, terms, words, segments, blocks = con.execute(
            "SELECT (SELECT count(*) FROM search_docs), (SELECT count(*) FROM search_terms), "
            "(SELECT count(*) FROM search_lexicon), (SELECT count(*) FROM search_segments), "
            "(SELECT count(*) FROM search_blocks)"
        ).fetchone() or (0, 0, 0, 0, 0)
    finally:
        con.close()
    done = f"{merges} merges done; " if compact else ""
    console.print(
        f"{done}search index: {docs} articles, {terms} terms, {words} words, "
        f"{segments} segments, {blocks} blocks"
    )


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.command("export")(export)
    app.command("publish")(publish_command)
    app.command("published")(published)
    app.command("search-index")(search_index_command)

"""The backfill flow (rededup, refetch, reextract modes), its form schema, and its command
line; mode sitemaps is in test_backfill_sitemaps.py."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from newsflow.flows.backfill import BackfillMode, BackfillRequest, backfill, run_backfill
from newsflow.settings import Settings
from tests.helpers import db_rows

TABLES = ("articles", "article_versions", "article_comments", "article_sightings", "rejects")
BODY = "A wire story about harbour cranes, printed word for word by several papers.\n"


def _write(settings: Settings, sql: str) -> None:
    con = duckdb.connect(str(settings.db))
    try:
        con.execute(sql)
    finally:
        con.close()


def _snapshot(settings: Settings) -> dict[str, list[tuple]]:
    return {t: sorted(db_rows(settings, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def _seed_three(folder: Path, settings: Settings) -> None:
    """Three articles on two days; b copies a, loaded by a later run (so a is the first)."""
    folder.mkdir(exist_ok=True)
    (folder / "first").mkdir()
    (folder / "first" / "a.txt").write_text(
        f"Cranes\n20240102\nhttps://a.example.com/cranes\n{BODY}"
    )
    (folder / "b.txt").write_text(f"Cranes!\n20240103\nhttps://www.b.example.org/c\n{BODY}")
    (folder / "c.txt").write_text(
        "Другая новость\n20240103\nhttps://c.example.net/x\n"
        "Это совсем другая статья о погоде в городе, и в ней много русских слов.\n"
    )
    _load(settings, [folder / "first" / "a.txt"])
    _load(settings, [folder / "b.txt", folder / "c.txt"])


def _load(settings: Settings, files: list[Path]) -> None:
    """Load seed files through the stages and the loader (as ingest-seeds would, faster)."""
    from newsflow.tasks.process import process_candidates
    from newsflow.tasks.seeds import read_seed_files
    from newsflow.tasks.spool import write_batch
    from newsflow.warehouse.loader import load_spool

    candidates, _ = read_seed_files(files, "setup")
    write_batch(process_candidates(candidates, "setup"), settings.spool)
    load_spool(settings.db, settings.spool, lock_wait=30)


FORM = ["mode", "first_day", "last_day", "sites", "feeds", "sitemaps"]


def check_backfill_schema(schema: dict[str, Any], *, stored: bool = True) -> None:
    """What the Prefect UI needs to render the backfill form for a journalist: flat fields in
    this order, each with a title and help, mode first with one line per mode, the days as
    date pickers, and no engine settings. ``stored``: as a deployment stores it."""
    props = schema["properties"]
    assert sorted(props, key=lambda name: props[name]["position"]) == FORM
    assert not schema.get("definitions")  # nothing nested, no settings object
    assert schema["required"] == ["first_day"]
    for name, prop in props.items():
        assert "$ref" not in prop and "anyOf" not in prop, name
        assert prop["type"] in ("string", "array"), name
        assert prop["title"][0].isupper() and "_" not in prop["title"], name
        assert len(prop.get("description", "")) > 20, name
        assert "<" not in prop["description"], name  # the UI's markdown eats <tags>
    mode = props["mode"]
    assert mode["enum"] == ["rededup", "reextract", "refetch", "sitemaps"]
    assert mode["default"] == "rededup"
    lines = [line for line in mode["description"].splitlines() if line.startswith("- ")]
    assert [line.split(":")[0] for line in lines] == [f"- {m}" for m in mode["enum"]]
    for day in ("first_day", "last_day"):
        assert (props[day]["type"], props[day]["format"]) == ("string", "date"), day
    # An empty last day means the first day; stored without a null default, so the UI shows
    # an empty picker and the server accepts the field left empty.
    assert "empty for the first day only" in props["last_day"]["description"]
    assert ("default" not in props["last_day"]) if stored else props["last_day"]["default"] is None
    for name in ("sites", "feeds", "sitemaps"):
        assert props[name]["items"] == {"type": "string"} and props[name]["default"] == []
    assert "https:///" not in props["sitemaps"]["description"]
    assert "https://example.com/news-sitemap.xml" in props["sitemaps"]["description"]
    assert "robots.txt" in props["sitemaps"]["description"]


def test_backfill_form_schema(tmp_path: Path) -> None:
    from prefect.utilities.callables import parameter_schema

    from newsflow.deploy.serve import ServeOptions, build_deployments

    check_backfill_schema(parameter_schema(backfill.fn).model_dump(), stored=False)
    deployments = build_deployments(ServeOptions(tmp_path / "seeds", tmp_path / "feeds.toml"))
    (deployment,) = [d for d in deployments if d.name == "backfill"]
    check_backfill_schema(deployment._parameter_openapi_schema.model_dump())


@pytest.mark.usefixtures("prefect_harness")
def test_a_request_that_cannot_run_fails_with_one_sentence(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a deployment runs it: settings from the environment, the form's values; a bad
    request ends the run at once, Failed, its message one sentence and no traceback."""
    _seed_three(tmp_path / "s", settings)
    monkeypatch.setenv("NEWSFLOW_DB", str(settings.db))
    monkeypatch.setenv("NEWSFLOW_SPOOL", settings.spool)
    reversed_range = backfill(
        first_day=date(2024, 1, 3), last_day=date(2024, 1, 1), return_state=True
    )
    assert reversed_range.is_failed()
    assert reversed_range.message == "The last day (2024-01-01) is before the first (2024-01-03)."
    too_long = backfill(first_day=date(2020, 1, 1), last_day=date(2024, 1, 1), return_state=True)
    assert too_long.is_failed() and too_long.message == (
        "A backfill covers at most 366 days and 2020-01-01 to 2024-01-01 is 1462: split the range."
    )
    typo = backfill(first_day=date(2024, 1, 3), sites=("exmaple.net",), return_state=True)
    assert typo.is_failed() and typo.message is not None
    assert typo.message.startswith("The warehouse has no article or failed page from exmaple.net")
    not_a_site = backfill(first_day=date(2024, 1, 3), sites=("the guardian",), return_state=True)
    assert not_a_site.message == (
        "'the guardian' is not a site name: write a domain such as bbc.co.uk."
    )
    for state in (reversed_range, too_long, typo, not_a_site):
        assert "\n" not in (state.message or "") and "Traceback" not in (state.message or "")
    assert db_rows(settings, "SELECT count(*) FROM runs WHERE flow = 'backfill'") == [(0,)]
    # The same form with a known site runs, with the warehouse the environment names.
    _write(settings, "UPDATE articles SET language = 'xx'")
    ok = backfill(first_day=date(2024, 1, 3), sites=("www.example.net",), return_state=True)
    assert ok.is_completed()
    assert dict(db_rows(settings, "SELECT domain, language FROM articles"))["example.net"] == "ru"


@pytest.mark.usefixtures("prefect_harness")
def test_the_artifact_says_what_was_asked_and_each_days_counts(
    settings: Settings, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client

    _seed_three(tmp_path / "s", settings)
    request = BackfillRequest(
        since=date(2024, 1, 1), until=date(2024, 1, 3), domains=["example.org", "example.com"]
    )
    summary = run_backfill(request, settings)
    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts(limit=50)
    (markdown,) = [
        a.data for a in artifact if a.key == "backfill" and summary["run_id"] in str(a.flow_run_id)
    ]
    assert "**Mode:** rededup (recompute duplicates" in markdown
    assert "**Days:** 2024-01-01 to 2024-01-03 (3 days, UTC)" in markdown
    assert "**Sites:** example.com, example.org" in markdown
    assert "| day | articles recomputed |" in markdown
    assert "| 2024-01-01 | 0 |" in markdown
    assert "| 2024-01-02 | 1 |" in markdown and "| 2024-01-03 | 1 |" in markdown


def test_request_validation() -> None:
    with pytest.raises(ValueError, match="before the first"):
        BackfillRequest(since=date(2024, 1, 3), until=date(2024, 1, 2))
    with pytest.raises(ValueError, match="at most"):
        BackfillRequest(since=date(2020, 1, 1), until=date(2024, 1, 1))
    request = BackfillRequest(since=date(2024, 1, 2), domains=["https://WWW.BBC.co.uk/news", ""])
    assert request.domains == ["bbc.co.uk"]
    assert request.days() == [date(2024, 1, 2)]
    assert request.mode is BackfillMode.rededup


@pytest.mark.usefixtures("prefect_harness")
def test_rededup_repairs_derived_columns_and_twice_changes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    _seed_three(tmp_path / "s", settings)
    good = _snapshot(settings)
    first = db_rows(settings, "SELECT article_id FROM articles WHERE domain = 'example.com'")[0][0]
    # Damage what rededup recomputes: language, word count, domain, a duplicate pointer, and a
    # root pointing at its own later copy.
    _write(
        settings,
        "UPDATE articles SET language = 'xx', language_confidence = 0.1, word_count = 0 "
        "WHERE domain = 'example.net'",
    )
    _write(
        settings,
        "UPDATE articles SET duplicate_of = NULL, domain = 'wrong' WHERE domain = 'example.org'",
    )
    _write(
        settings,
        "UPDATE articles SET duplicate_of = (SELECT article_id FROM articles "
        "WHERE url LIKE '%b.example.org%') WHERE domain = 'example.com'",
    )
    assert _snapshot(settings) != good
    summary = run_backfill(
        BackfillRequest(since=date(2024, 1, 2), until=date(2024, 1, 3)), settings
    )
    assert summary["items"] == 3
    assert summary["load"]["revised"] >= 3
    assert _snapshot(settings) == good
    assert db_rows(
        settings, "SELECT count(*) FROM articles WHERE duplicate_of = ?".replace("?", f"'{first}'")
    ) == [(1,)]
    again = run_backfill(BackfillRequest(since=date(2024, 1, 2), until=date(2024, 1, 3)), settings)
    assert again["load"]["revised"] == 0
    assert _snapshot(settings) == good
    runs = db_rows(settings, "SELECT flow, items FROM runs WHERE flow = 'backfill'")
    assert sorted(runs) == [("backfill", 3), ("backfill", 3)]


@pytest.mark.usefixtures("prefect_harness")
def test_domain_filter_and_day_range(settings: Settings, tmp_path: Path) -> None:
    _seed_three(tmp_path / "s", settings)
    _write(settings, "UPDATE articles SET language = 'xx'")
    run_backfill(BackfillRequest(since=date(2024, 1, 3), domains=["c.example.net"]), settings)
    langs = dict(db_rows(settings, "SELECT domain, language FROM articles"))
    assert langs == {"example.com": "xx", "example.org": "xx", "example.net": "ru"}


def test_cli_usage_errors(settings: Settings) -> None:
    from newsflow.cli import app

    runner = CliRunner()
    db = ["--db", str(settings.db)]
    result = runner.invoke(app, ["backfill", "--since", "2024-01-02", "--mode", "sitemaps", *db])
    assert result.exit_code == 2
    assert "needs sitemap URLs or domains" in result.output
    result = runner.invoke(
        app, ["backfill", "--since", "2024-01-02", "--sitemap", "https://x.example/s.xml", *db]
    )
    assert result.exit_code == 2 and "only to mode sitemaps" in result.output
    result = runner.invoke(app, ["backfill", "--since", "02/01/2024", *db])
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output
    result = runner.invoke(app, ["backfill", "--since", "2024-01-03", "--until", "2024-01-01", *db])
    assert result.exit_code == 2 and "before the first" in result.output
    result = runner.invoke(app, ["backfill", "--since", "2024-01-02", "--mode", "nope", *db])
    assert result.exit_code == 2
    result = runner.invoke(
        app, ["backfill", "--since", "2024-01-02", "--domain", "exmaple.org", *db]
    )
    assert result.exit_code == 2 and "no article or failed page from exmaple.org" in result.output
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("prefect_harness")
def test_cli_backfill_runs_the_flow(settings: Settings, tmp_path: Path) -> None:
    from newsflow.cli import app

    _seed_three(tmp_path / "s", settings)
    _write(settings, "UPDATE articles SET word_count = 1")
    result = CliRunner().invoke(
        app,
        ["backfill", "--since", "2024-01-01", "--until", "2024-01-05", "--db", str(settings.db)],
        env={"NEWSFLOW_SPOOL": settings.spool},
    )
    assert result.exit_code == 0, result.output
    assert "article rows revised: 3" in result.output
    assert db_rows(settings, "SELECT min(word_count) FROM articles")[0][0] > 1


@pytest.mark.usefixtures("prefect_harness")
def test_refetch_loads_what_failed_and_twice_changes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from newsflow.flows.urls import ingest_urls
    from tests.fetch_server import FaultServer, article_html, sample_paragraphs, send

    srv = FaultServer().start()
    up = {"ok": False}
    story = article_html("Quay repairs", sample_paragraphs("Hammerfest")).encode()

    def flaky(h: Any) -> None:
        send(h, 200, story) if up["ok"] else send(h, 503, b"busy", "text/plain")

    srv.routes["/story"] = flaky
    srv.routes["/missing"] = lambda h: send(h, 404, b"no", "text/plain")
    settings = settings.model_copy(
        update={
            "allow_private": Settings(allow_private="127.0.0.1").allow_private,
            "per_host_delay": 0.0,
            "http_retries": 0,
        }
    )
    try:
        ingest_urls(urls=[srv.url("/story"), srv.url("/missing")], settings=settings)
        assert db_rows(settings, "SELECT count(*) FROM articles") == [(0,)]
        up["ok"] = True
        today = datetime.now(UTC).date()
        request = BackfillRequest(since=today, mode=BackfillMode.refetch)
        first = run_backfill(request, settings)
        assert first["items"] == 2  # both failed URLs tried again
        assert db_rows(settings, "SELECT title FROM articles") == [("Quay repairs",)]
        before = _snapshot(settings)
        hits = srv.count("/story")
        again = run_backfill(request, settings)
        assert again["items"] == 1  # only the still-missing page
        assert srv.count("/story") == hits
        after = _snapshot(settings)
        assert after["articles"] == before["articles"]
        assert after["article_sightings"] == before["article_sightings"]
    finally:
        srv.stop()
    with pytest.raises(ValueError, match="feeds do not apply"):
        BackfillRequest(since=today, mode=BackfillMode.refetch, feeds=["https://x/rss"])


@pytest.mark.usefixtures("prefect_harness")
def test_reextract_from_stored_html_and_twice_changes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    from newsflow.flows.urls import ingest_urls
    from tests.fetch_server import FaultServer, article_html, page, sample_paragraphs

    srv = FaultServer().start()
    dated = '<meta property="article:published_time" content="2024-04-02T10:00:00Z">'
    srv.routes["/p"] = page(article_html("Pier", sample_paragraphs("Vardø"), head=dated))
    settings = settings.model_copy(
        update={
            "allow_private": Settings(allow_private="127.0.0.1").allow_private,
            "per_host_delay": 0.0,
        }
    )
    try:
        ingest_urls(urls=[srv.url("/p")], settings=settings)
    finally:
        srv.stop()  # re-extraction reads the stored HTML: the site may be gone
    good = db_rows(settings, "SELECT article_id, text, content_hash, published_at FROM articles")
    assert len(good) == 1 and "Vardø" in good[0][1]
    assert db_rows(settings, "SELECT count(*) FROM raw_pages") == [(1,)]
    _write(settings, "UPDATE articles SET text = 'A broken extraction.', content_hash = 'x'")
    request = BackfillRequest(since=date(2024, 4, 2), mode=BackfillMode.reextract)
    first = run_backfill(request, settings)
    assert first["items"] == 1 and first["load"]["updated"] == 1
    assert db_rows(
        settings, "SELECT article_id, text, content_hash, published_at FROM articles"
    ) == (good)
    assert db_rows(settings, "SELECT text FROM article_versions") == [("A broken extraction.",)]
    before = _snapshot(settings)
    again = run_backfill(request, settings)
    assert again["load"]["unchanged"] == 1 and again["load"]["updated"] == 0
    assert _snapshot(settings) == before
    assert db_rows(settings, "SELECT count(*) FROM raw_pages") == [(1,)]

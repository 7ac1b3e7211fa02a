"""The seed flow end to end: real Prefect flow runs, a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsflow.flows.seeds import ingest_seeds
from newsflow.settings import Settings
from tests.helpers import db_rows

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_real_seed_loads_as_one_article(settings: Settings, seed_dir: Path) -> None:
    summary = ingest_seeds(paths=[str(seed_dir)], settings=settings)
    assert summary["load"]["loaded"] == 1
    (row,) = db_rows(
        settings,
        "SELECT title, strftime(published_at, '%Y-%m-%d'), domain, language, text, origin "
        "FROM articles",
    )
    title, published, domain, language, text, origin = row
    assert title.startswith("Putin and Xi hail new model of cooperation")
    assert (published, domain, language, origin) == ("2021-12-16", "sott.net", "en", "seed")
    assert "Comment:" not in text
    assert "Earlier on Wednesday, Kremlin spokesperson" in text
    comments = db_rows(settings, "SELECT position, text FROM article_comments ORDER BY position")
    assert len(comments) == 3
    assert comments[0][1].startswith("The hyperlink above contains allegations")
    runs = db_rows(settings, "SELECT flow, items, loaded, status FROM runs")
    assert runs == [("ingest-seeds", 1, 1, "completed")]


def test_second_run_adds_nothing(settings: Settings, seed_dir: Path) -> None:
    ingest_seeds(paths=[str(seed_dir)], settings=settings)
    tables = ("articles", "article_comments", "article_sightings", "article_versions", "rejects")
    before = {t: db_rows(settings, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    summary = ingest_seeds(paths=[str(seed_dir)], settings=settings)
    after = {t: db_rows(settings, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    assert before == after
    assert summary["load"]["loaded"] == 0
    assert summary["load"]["unchanged"] == 1


def test_bad_files_become_rejects_and_the_run_completes(settings: Settings, seed_dir: Path) -> None:
    (seed_dir / "empty.txt").write_bytes(b"")
    (seed_dir / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (seed_dir / "nourl.txt").write_text("Title\n20210101\nnot a url\nBody text here.\n")
    (seed_dir / "baddate.txt").write_text(
        "A title\n20211341\nhttps://example.com/a\nSome body text for the article.\n"
    )
    summary = ingest_seeds(paths=[str(seed_dir)], settings=settings)
    assert summary["load"]["loaded"] == 2
    reasons = dict(db_rows(settings, "SELECT reason, count(*) FROM rejects GROUP BY reason"))
    assert reasons == {"empty_file": 1, "binary": 1, "bad_url": 1}
    (bad,) = db_rows(
        settings,
        "SELECT a.published_at, n.code FROM articles a JOIN article_notes n USING (article_id) "
        "WHERE a.url = 'https://example.com/a'",
    )
    assert bad == (None, "bad_date")


def test_exact_duplicates_across_runs_point_at_the_first(
    settings: Settings, tmp_path: Path
) -> None:
    first = tmp_path / "one"
    second = tmp_path / "two"
    first.mkdir()
    second.mkdir()
    body = "The same wire story, word for word, published by two sites.\n"
    (first / "a.txt").write_text(f"Story\n20240102\nhttps://a.example.com/story\n{body}")
    (second / "b.txt").write_text(
        f"Story!\n20240103\nhttps://b.example.org/copy?utm_source=x\n{body}"
    )
    (second / "c.txt").write_text(f"Story\n20240103\nhttps://c.example.net/again\n{body}")
    ingest_seeds(paths=[str(first)], settings=settings)
    ingest_seeds(paths=[str(second)], settings=settings)
    rows = dict(db_rows(settings, "SELECT domain, duplicate_of FROM articles"))
    root = db_rows(settings, "SELECT article_id FROM articles WHERE domain = 'example.com'")[0][0]
    assert rows == {"example.com": None, "example.org": root, "example.net": root}
    assert db_rows(settings, "SELECT canonical_url FROM articles WHERE domain = 'example.org'") == [
        ("https://b.example.org/copy",)
    ]
    assert db_rows(settings, "SELECT count(*) FROM articles_unique") == [(1,)]


def test_changed_text_keeps_the_old_version(settings: Settings, tmp_path: Path) -> None:
    seed = tmp_path / "s.txt"
    seed.write_text("T\n20240102\nhttps://example.com/x\nFirst version of the text.\n")
    ingest_seeds(paths=[str(seed)], settings=settings)
    seed.write_text("T\n20240102\nhttps://example.com/x\nCorrected version of the text.\n")
    summary = ingest_seeds(paths=[str(seed)], settings=settings)
    assert summary["load"]["updated"] == 1
    assert db_rows(settings, "SELECT text FROM articles") == [("Corrected version of the text.",)]
    assert db_rows(settings, "SELECT text FROM article_versions") == [
        ("First version of the text.",)
    ]


def test_run_publishes_a_summary_artifact(settings: Settings, seed_dir: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    (seed_dir / "empty.txt").write_bytes(b"")
    summary = ingest_seeds(paths=[str(seed_dir)], settings=settings)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[summary["run_id"]])
            )
        )
    (artifact,) = [a for a in artifacts if a.key == "ingest-seeds"]
    assert "| new articles loaded | 1 |" in str(artifact.data)
    assert "| `empty_file` | 1 |" in str(artifact.data)
